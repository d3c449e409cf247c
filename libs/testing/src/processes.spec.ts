import { describe, expect, it } from 'vitest';
import { freePort, portBand, portIsFree } from './processes.js';

describe(freePort.name, () => {
  it("picks a free port from this vitest worker's band, below the ephemeral range, never the same twice", async () => {
    const band = portBand();
    expect(band).toBeDefined();
    const [from, to] = band ?? [0, 0];
    expect(to).toBeLessThanOrEqual(32_768);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(from);
      expect(port).toBeLessThan(to);
      await expect(portIsFree(port)).resolves.toBe(true);
    }
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('gives two workers bands that do not overlap, and none outside vitest or beyond the bands', () => {
    const [a, b] = [portBand('1'), portBand('2')];
    expect(a?.[1]).toBeLessThanOrEqual(b?.[0] ?? 0);
    expect(portBand('')).toBeUndefined();
    expect(portBand('9')).toBeUndefined();
  });
});
