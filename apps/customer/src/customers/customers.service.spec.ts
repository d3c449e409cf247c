import { ConflictException, NotFoundException } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Principal } from '#lab/auth';
import { PageQueryDto } from '#lab/database';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customerTestingModule } from '../../test/testing-module.js';
import { Customer } from './customer.entity.js';
import { CustomersController } from './customers.controller.js';
import { CustomersService } from './customers.service.js';

let n = 0;
const userId = () => `user-${++n}`;
const principal = (subject: string, scopes: string[] = ['profile']) =>
  ({ subject, scopes }) as unknown as Principal;
const profile = (id: string) => ({ userId: id, email: `${id}@Example.com`, name: `Name ${id}` });

describe(CustomersService.name, () => {
  let moduleRef: TestingModule;
  let service: CustomersService;
  let controller: CustomersController;
  let customers: MongoRepository<Customer>;

  beforeAll(async () => {
    moduleRef = await customerTestingModule();
    service = moduleRef.get(CustomersService);
    controller = moduleRef.get(CustomersController);
    customers = moduleRef.get(getRepositoryToken(Customer));
  });
  beforeEach(async () => {
    await customers.deleteMany({});
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('creates one profile per user, e-mail lower-cased and no address, and refuses a second with 409', async () => {
    const id = userId();
    const created = await controller.create(profile(id));

    expect(created).toMatchObject({
      userId: id,
      email: `${id}@example.com`,
      name: `Name ${id}`,
      address: null,
      orders: null,
    });
    expect(created.id).toMatch(/^[0-9a-f]{24}$/);
    await expect(service.create({ ...profile(id), name: 'again' })).rejects.toBeInstanceOf(ConflictException);
    expect(await customers.countBy({ userId: id })).toBe(1);
  });

  it('keeps the profile apart under concurrent creates for the same user: exactly one wins', async () => {
    const id = userId();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => service.create(profile(id))));

    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(
      results.filter((result) => result.status === 'rejected' && result.reason instanceof ConflictException),
    ).toHaveLength(4);
  });

  it("answers the user's own profile, and 404 before it exists", async () => {
    const id = userId();
    await expect(controller.me(principal(id))).rejects.toBeInstanceOf(NotFoundException);
    await service.create(profile(id));

    expect(await controller.me(principal(id))).toMatchObject({ userId: id });
  });

  it('changes the name and the address, either alone, and leaves the rest', async () => {
    const id = userId();
    await service.create(profile(id));
    const address = { line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };

    expect(await controller.updateMe(principal(id), { address })).toMatchObject({
      name: `Name ${id}`,
      address,
    });
    expect(await controller.updateMe(principal(id), { name: 'Renamed' })).toMatchObject({
      name: 'Renamed',
      address,
    });
    await expect(service.updateOwn(principal(userId()), { name: 'nobody' })).rejects.toBeInstanceOf(
      NotFoundException,
    );
  });

  it('shows a profile by id to its owner, an admin and customers:read, and 404 to anyone else or for a malformed id', async () => {
    const owner = userId();
    const { id } = await controller.create(profile(owner));

    expect(await controller.findOne(principal(owner), id)).toMatchObject({ id, userId: owner });
    expect(await controller.findOne(principal(userId(), ['admin']), id)).toMatchObject({ id });
    expect(await controller.findOne(principal(userId(), ['customers:read']), id)).toMatchObject({ id });
    await expect(controller.findOne(principal(userId()), id)).rejects.toBeInstanceOf(NotFoundException);
    await expect(controller.findOne(principal(owner), 'abcdefghijkl')).rejects.toBeInstanceOf(
      NotFoundException,
    );
  });

  it('lists every profile a page at a time, oldest first, with the total', async () => {
    const ids = [userId(), userId(), userId()];
    for (const id of ids) await service.create(profile(id));

    const first = await controller.list(Object.assign(new PageQueryDto(), { page: 1, limit: 2 }));
    const second = await controller.list(Object.assign(new PageQueryDto(), { page: 2, limit: 2 }));

    expect(first).toMatchObject({ page: 1, limit: 2, total: 3 });
    expect(first.items.map((item) => item.userId)).toEqual(ids.slice(0, 2));
    expect(second.items.map((item) => item.userId)).toEqual(ids.slice(2));
  });
});
