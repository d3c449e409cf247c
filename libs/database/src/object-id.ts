import { ObjectId } from 'mongodb';

/**
 * The ObjectId a path or body id names, or undefined for anything that cannot be one (24 hex digits;
 * `ObjectId.isValid` would also take any 12-character string). Callers answer undefined as not found.
 */
export function objectIdFrom(id: string): ObjectId | undefined {
  return /^[0-9a-fA-F]{24}$/.test(id) ? new ObjectId(id) : undefined;
}
