import { type ArgumentMetadata, BadRequestException, type PipeTransform } from '@nestjs/common';

/**
 * The messages a validation pipe answers for `value` as the `type` of a handler taking `metatype` (a
 * body DTO unless said), or [] when it accepts it: what a client would read in the 400's `message`.
 */
export async function validationErrors(
  pipe: PipeTransform,
  metatype: ArgumentMetadata['metatype'],
  value: unknown,
  type: ArgumentMetadata['type'] = 'body',
): Promise<string[]> {
  try {
    await pipe.transform(value, { type, metatype });
    return [];
  } catch (error) {
    if (!(error instanceof BadRequestException)) throw error;
    return (error.getResponse() as { message: string[] }).message;
  }
}
