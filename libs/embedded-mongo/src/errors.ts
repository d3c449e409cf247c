import type { Document } from 'bson';

/** A failure the client sees as `{ ok: 0, errmsg, code, codeName }`, with the codes a real server uses. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    readonly extra: Document = {},
  ) {
    super(message);
    this.name = 'CommandError';
  }

  toReply(): Document {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }

  toWriteError(index: number): Document {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }
}

export const badValue = (message: string): CommandError => new CommandError(2, 'BadValue', message);
export const typeMismatch = (message: string): CommandError => new CommandError(14, 'TypeMismatch', message);
export const invalidNamespace = (message: string): CommandError =>
  new CommandError(73, 'InvalidNamespace', message);
export const namespaceNotFound = (ns: string): CommandError =>
  new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${ns}`);
export const immutableField = (): CommandError =>
  new CommandError(
    66,
    'ImmutableField',
    "Performing an update on the path '_id' would modify the immutable field '_id'",
  );
