import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';

/** Whether a value has a DTO's common, well-formed shape (see {@link FastPath}). */
export type WellFormed = (value: unknown) => boolean;

const fastPaths = new WeakMap<object, WellFormed>();

/**
 * For the DTO of a hot route: `accepts` recognises its common, well-formed shape, which the global
 * {@link LabValidationPipe} then passes on as it is (a plain object, not an instance of the class),
 * without class-transformer and class-validator; anything else is validated as usual, with the same
 * answers. `accepts` must accept only values that validation accepts unchanged: a spec of each DTO
 * checks it against the pipe.
 */
export function FastPath(accepts: WellFormed): ClassDecorator {
  return (target) => {
    fastPaths.set(target, accepts);
  };
}

/**
 * The pipe every service runs with: Nest's ValidationPipe (unknown properties refused, the value
 * transformed to its DTO), but a value its DTO's {@link FastPath} accepts passes as it is.
 */
export class LabValidationPipe extends ValidationPipe {
  constructor() {
    super({ whitelist: true, forbidNonWhitelisted: true, transform: true });
  }

  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const accepts = metadata.metatype && fastPaths.get(metadata.metatype);
    if (accepts && accepts(value)) return Promise.resolve(value);
    return super.transform(value, metadata);
  }

  /** Validation and transformation as if no {@link FastPath} existed: what a fast path must agree with. */
  transformFully(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    return super.transform(value, metadata);
  }
}
