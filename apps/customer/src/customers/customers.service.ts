import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { hasScope, type Principal, Scope } from '#lab/auth';
import {
  collectionOf,
  isDuplicateKeyError,
  objectIdFrom,
  type PageQueryDto,
  pageWindow,
} from '#lab/database';
import type { Collection } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { Customer } from './customer.entity.js';
import type { CreateCustomerDto } from './dto/create-customer.dto.js';
import type { UpdateCustomerDto } from './dto/update-customer.dto.js';

@Injectable()
export class CustomersService {
  /** The driver's collection, for `findOwn` (every order reads the buyer's profile). */
  private readonly collection: Collection<Customer>;

  constructor(@InjectRepository(Customer) private readonly customers: MongoRepository<Customer>) {
    this.collection = collectionOf(customers);
  }

  async create(input: CreateCustomerDto): Promise<Customer> {
    const now = new Date();
    const customer = this.customers.create({
      ...input,
      email: input.email.toLowerCase(),
      address: null,
      createdAt: now,
      updatedAt: now,
    });
    try {
      return await this.customers.save(customer);
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        throw new ConflictException(`user ${input.userId} already has a customer profile`);
      }
      throw error;
    }
  }

  async findOwn(principal: Principal): Promise<Customer> {
    const customer = await this.collection.findOne({ userId: principal.subject });
    if (!customer) throw new NotFoundException('no customer profile for this user');
    return customer;
  }

  async updateOwn(principal: Principal, changes: UpdateCustomerDto): Promise<Customer> {
    const set: Partial<Customer> = { updatedAt: new Date() };
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.address !== undefined) {
      const { line1, line2, city, postalCode, country } = changes.address;
      set.address = { line1, ...(line2 === undefined ? {} : { line2 }), city, postalCode, country };
    }
    const result = await this.customers.findOneAndUpdate(
      { userId: principal.subject },
      { $set: set },
      { returnDocument: 'after' },
    );
    if (!result) throw new NotFoundException('no customer profile for this user');
    return this.customers.create(result as Customer);
  }

  /** The owner, an admin, or a service allowed to read customers; anyone else gets 404, as if it did not exist. */
  async findVisible(principal: Principal, id: string): Promise<Customer> {
    const _id = objectIdFrom(id);
    const customer = _id ? await this.customers.findOneBy({ _id }) : null;
    const allowed =
      customer &&
      (customer.userId === principal.subject ||
        hasScope(principal, Scope.Admin) ||
        hasScope(principal, Scope.CustomersRead));
    if (!customer || !allowed) throw new NotFoundException(`customer ${id} not found`);
    return customer;
  }

  async list(query: PageQueryDto): Promise<{ items: Customer[]; total: number }> {
    const [items, total] = await this.customers.findAndCount({
      order: { createdAt: 'ASC' },
      ...pageWindow(query),
    });
    return { items, total };
  }
}
