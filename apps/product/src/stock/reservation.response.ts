import { fromCents } from '../products/money.js';
import type {
  RequestedLine,
  ReservationFailure,
  ReservationStatus,
  StockReservation,
  TakenLine,
} from './stock-reservation.entity.js';

export interface ReservedLineResponse {
  productId: string;
  name: string;
  quantity: number;
  unitPrice: number;
  lineTotal: number;
}

/** The answer to a successful reservation: the lines priced when their stock was taken. */
export interface ReservationResponse {
  orderId: string;
  status: 'RESERVED';
  lines: ReservedLineResponse[];
  total: number;
}

export interface ReleaseResponse {
  orderId: string;
  status: 'RELEASED';
}

/** A reservation in any state (for reconciliation). */
export interface ReservationStateResponse {
  orderId: string;
  status: ReservationStatus;
  lines: RequestedLine[];
  taken: ReservedLineResponse[];
  failure: ReservationFailure | null;
  createdAt: string;
  updatedAt: string;
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
