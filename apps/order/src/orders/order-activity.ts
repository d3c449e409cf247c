import { Injectable, Module } from '@nestjs/common';

/**
 * In-process news that this instance wrote orders, so that the background passes (the compensation
 * sweep, the outbox relay) query the database only while something may be waiting for them, and
 * otherwise only now and then (a slow safety poll, for what another instance left behind).
 */
@Injectable()
export class OrderActivity {
  private readonly listeners = new Set<() => void>();
  /** When this instance last wrote an order (ms since the epoch; 0: not since it started). */
  lastWriteAt = 0;

  written(): void {
    this.lastWriteAt = Date.now();
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` after each write; answers the function that stops it. */
  onWrite(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** One {@link OrderActivity} for the orders and the events modules. */
@Module({ providers: [OrderActivity], exports: [OrderActivity] })
export class OrderActivityModule {}
