import type { Address, Customer } from './customer.entity.js';

export interface CustomerResponse {
  id: string;
  userId: string;
  email: string;
  name: string;
  address: Address | null;
  createdAt: string;
  updatedAt: string;
}

export function toCustomerResponse(customer: Customer): CustomerResponse {
  return {
    id: customer._id.toHexString(),
    userId: customer.userId,
    email: customer.email,
    name: customer.name,
    address: customer.address ?? null,
    createdAt: customer.createdAt.toISOString(),
    updatedAt: customer.updatedAt.toISOString(),
  };
}
