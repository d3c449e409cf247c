/** MongoDB's duplicate-key error (E11000), whether the driver's error arrives bare or wrapped by TypeORM. */
export function isDuplicateKeyError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, driverError } = error as { code?: unknown; driverError?: unknown };
  return code === 11000 || (driverError !== undefined && isDuplicateKeyError(driverError));
}
