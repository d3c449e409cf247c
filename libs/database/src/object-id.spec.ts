import { describe, expect, it } from 'vitest';
import { objectIdFrom } from './object-id.js';

describe(objectIdFrom.name, () => {
  it('reads 24 hex digits, in either case, as the same ObjectId', () => {
    expect(objectIdFrom('64b7f0c2a1b2c3d4e5f60719')?.toHexString()).toBe('64b7f0c2a1b2c3d4e5f60719');
    expect(objectIdFrom('64B7F0C2A1B2C3D4E5F60719')?.toHexString()).toBe('64b7f0c2a1b2c3d4e5f60719');
  });

  it('refuses what cannot be an id: 12-character strings ObjectId.isValid would take, short, long or non-hex ids', () => {
    for (const id of [
      'abcdefghijkl',
      '64b7f0c2a1b2c3d4e5f6071',
      '64b7f0c2a1b2c3d4e5f607190',
      '64b7f0c2a1b2c3d4e5f6071z',
      '',
      '../x',
    ]) {
      expect(objectIdFrom(id)).toBeUndefined();
    }
  });
});
