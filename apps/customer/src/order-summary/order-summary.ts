import { ApiProperty } from '@nestjs/swagger';

/** What a customer document keeps of its owner's orders (kept by the order-events consumer). */
export interface OrderSummary {
  /** Confirmed orders not cancelled since. */
  count: number;
  totalSpentCents: number;
  /** When the latest confirmed order was confirmed (a cancel leaves it). */
  lastOrderAt: Date | null;
}

export class OrderSummaryResponse {
  @ApiProperty({ description: 'Confirmed orders, not counting cancelled ones.', example: 2 })
  count!: number;

  @ApiProperty({ description: 'Total of those orders, in the catalogue currency.', example: 59.9 })
  totalSpent!: number;

  @ApiProperty({
    format: 'date-time',
    nullable: true,
    type: String,
    description: 'When the latest order was confirmed; null before the first.',
  })
  lastOrderAt!: string | null;
}

/**
 * The profile's `orders`: null when the lab runs without events (no AMQP_URL: nothing keeps it), else
 * the summary, zeros for a customer without orders.
 */
export function toOrderSummaryResponse(
  summary: OrderSummary | undefined,
  eventsOn: boolean,
): OrderSummaryResponse | null {
  if (!eventsOn) return null;
  return {
    count: summary?.count ?? 0,
    totalSpent: Math.round(summary?.totalSpentCents ?? 0) / 100,
    lastOrderAt: summary?.lastOrderAt ? new Date(summary.lastOrderAt).toISOString() : null,
  };
}
