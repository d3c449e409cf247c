import { ApiProperty } from '@nestjs/swagger';
import { fromCents } from '../products/money.js';
import type {
  RequestedLine,
  ReservationFailure,
  ReservationStatus,
  StockReservation,
  TakenLine,
} from './stock-reservation.entity.js';

export class ReservedLineResponse {
  @ApiProperty()
  productId!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: 'integer', minimum: 1 })
  quantity!: number;

  @ApiProperty({ description: 'The price when the stock was taken.' })
  unitPrice!: number;

  @ApiProperty()
  lineTotal!: number;
}

export class RequestedLineResponse implements RequestedLine {
  @ApiProperty()
  productId!: string;

  @ApiProperty({ type: 'integer', minimum: 1 })
  quantity!: number;
}

export class ReservationFailureResponse implements ReservationFailure {
  @ApiProperty({ enum: ['out_of_stock', 'unknown_product'] })
  code!: ReservationFailure['code'];

  @ApiProperty()
  productId!: string;
}

/** The answer to a successful reservation: the lines priced when their stock was taken. */
export class ReservationResponse {
  @ApiProperty()
  orderId!: string;

  @ApiProperty({ enum: ['RESERVED'] })
  status!: 'RESERVED';

  @ApiProperty({ type: [ReservedLineResponse] })
  lines!: ReservedLineResponse[];

  @ApiProperty()
  total!: number;
}

export class ReleaseResponse {
  @ApiProperty()
  orderId!: string;

  @ApiProperty({ enum: ['RELEASED'] })
  status!: 'RELEASED';
}

/** A reservation in any state (for reconciliation). */
export class ReservationStateResponse {
  @ApiProperty()
  orderId!: string;

  @ApiProperty({ enum: ['PENDING', 'RESERVED', 'FAILED', 'RELEASED'] })
  status!: ReservationStatus;

  @ApiProperty({ type: [RequestedLineResponse] })
  lines!: RequestedLineResponse[];

  @ApiProperty({ type: [ReservedLineResponse] })
  taken!: ReservedLineResponse[];

  @ApiProperty({ type: ReservationFailureResponse, nullable: true })
  failure!: ReservationFailureResponse | null;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

function toReservedLine(line: TakenLine): ReservedLineResponse {
  return {
    productId: line.productId,
    name: line.name,
    quantity: line.quantity,
    unitPrice: fromCents(line.unitPriceCents),
    lineTotal: fromCents(line.unitPriceCents * line.quantity),
  };
}

export function toReservationResponse(reservation: StockReservation): ReservationResponse {
  const totalCents = reservation.taken.reduce((sum, line) => sum + line.unitPriceCents * line.quantity, 0);
  return {
    orderId: reservation.orderId,
    status: 'RESERVED',
    lines: reservation.taken.map(toReservedLine),
    total: fromCents(totalCents),
  };
}

export function toReservationStateResponse(reservation: StockReservation): ReservationStateResponse {
  return {
    orderId: reservation.orderId,
    status: reservation.status,
    lines: reservation.lines.map(({ productId, quantity }) => ({ productId, quantity })),
    taken: reservation.taken.map(toReservedLine),
    failure: reservation.failure ?? null,
    createdAt: reservation.createdAt.toISOString(),
    updatedAt: reservation.updatedAt.toISOString(),
  };
}
