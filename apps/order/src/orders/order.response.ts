import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Order } from './order.entity.js';

const money = (cents: number) => Math.round(cents) / 100;

export class OrderLineResponse {
  @ApiProperty()
  productId!: string;

  @ApiPropertyOptional({ description: 'Once reserved: the product name at that moment.' })
  name?: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 1000 })
  quantity!: number;

  @ApiPropertyOptional({ description: 'Once reserved: the price at that moment.' })
  unitPrice?: number;

  @ApiPropertyOptional()
  lineTotal?: number;
}

export class OrderResponse {
  @ApiProperty({ example: '65f0c0ffee0000000000abcd' })
  id!: string;

  @ApiProperty({ description: 'The buyer (the token subject).' })
  userId!: string;

  @ApiProperty({ enum: ['PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLING', 'CANCELLED'] })
  status!: Order['status'];

  @ApiProperty({ type: [OrderLineResponse] })
  lines!: OrderLineResponse[];

  @ApiProperty({ type: Number, nullable: true, description: 'Null until the stock is reserved.' })
  total!: number | null;

  @ApiPropertyOptional({ description: 'Why the order was rejected.' })
  reason?: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export function toOrderResponse(order: Order): OrderResponse {
  return {
    id: order._id.toHexString(),
    userId: order.userId,
    status: order.status,
    lines: order.lines.map((line) => ({
      productId: line.productId,
      ...(line.name !== undefined ? { name: line.name } : {}),
      quantity: line.quantity,
      ...(line.unitPriceCents !== undefined
        ? { unitPrice: money(line.unitPriceCents), lineTotal: money(line.unitPriceCents * line.quantity) }
        : {}),
    })),
    total: order.totalCents === null ? null : money(order.totalCents),
    ...(order.reason ? { reason: order.reason } : {}),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}
