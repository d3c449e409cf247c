import { describe, expect, it } from 'vitest';
import { measureDriverFloor, measureStore } from '../scripts/bench-store.mjs';

// `npm run bench`'s store figures, run for a moment: the built store and the floor beside it
// (scripts/wire-floor.mjs, canned replies) both answer the official driver, and each figure counts
// operations that really completed.
describe('bench-store (the embedded store and the floor under it)', () => {
  it('drives the built store with the driver: every phase completes operations and reads its CPU', async () => {
    const result = await measureStore({ seconds: 0.8, rounds: 1 });
    for (const phase of ['findOne', 'updateOne', 'findOneSerial', 'updateOneSerial'] as const) {
      expect(result.rounds[0][phase].count).toBeGreaterThan(0);
      expect(result[phase].ops).toBeGreaterThan(0);
      expect(result[phase].client).toBeGreaterThan(0);
    }
  }, 60_000);

  it('serves the driver from memory in the floor: findOne and updateOne complete, nothing fails', async () => {
    const floor = await measureDriverFloor({ seconds: 0.4, rounds: 1 });
    expect(floor.rounds[0].findOne.count).toBeGreaterThan(0);
    expect(floor.rounds[0].updateOne.count).toBeGreaterThan(0);
    expect(floor.findOne.client).toBeGreaterThan(0);
  }, 60_000);
});
