import { ApiProperty } from '@nestjs/swagger';
import { OrderSummaryResponse, toOrderSummaryResponse } from '../order-summary/order-summary.js';
import type { Customer } from './customer.entity.js';
import { AddressDto } from './dto/update-customer.dto.js';

export class CustomerResponse {
  @ApiProperty({ example: '65f0c0ffee0000000000abcd' })
  id!: string;

  @ApiProperty({ description: 'The oauth user this profile belongs to.' })
  userId!: string;

  @ApiProperty({ format: 'email' })
  email!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: AddressDto, nullable: true })
  address!: AddressDto | null;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;

  @ApiProperty({
    type: OrderSummaryResponse,
    nullable: true,
    description:
      'Confirmed orders, kept from the order events; null when the lab runs without events (no broker).',
  })
  orders!: OrderSummaryResponse | null;
}

/** `eventsOn`: the lab runs with a broker (AMQP_URL), so the order summary is kept; else `orders` is null. */
export function toCustomerResponse(customer: Customer, eventsOn = false): CustomerResponse {
  return {
    id: customer._id.toHexString(),
    userId: customer.userId,
    email: customer.email,
    name: customer.name,
    address: customer.address ?? null,
    createdAt: customer.createdAt.toISOString(),
    updatedAt: customer.updatedAt.toISOString(),
    orders: toOrderSummaryResponse(customer.orderSummary, eventsOn),
  };
}
