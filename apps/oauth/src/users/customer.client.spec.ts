import { HttpClientModule } from '#lab/http-client';
import type { TestingModule } from '@nestjs/testing';
import { freePort } from '#lab/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn } from '../../test/customer-service-stand-in.js';
import { databaseTestingModule } from '../../test/testing-module.js';
import { AccessTokenSigner } from '../keys/access-token.signer.js';
import { KeysService } from '../keys/keys.service.js';
import { CustomerClient, CustomerServiceUnavailable } from './customer.client.js';

describe(CustomerClient.name, () => {
  let customers: CustomerServiceStandIn;
  const modules: TestingModule[] = [];
  const profile = { userId: '0123456789abcdef01234567', email: 'ada@example.com', name: 'Ada' };

  async function clientFor(customerUrl: string): Promise<CustomerClient> {
    const moduleRef = await databaseTestingModule(
      [KeysService, AccessTokenSigner, CustomerClient],
      { CUSTOMER_URL: customerUrl },
      [HttpClientModule],
    );
    modules.push(moduleRef);
    return moduleRef.get(CustomerClient);
  }

  beforeAll(async () => {
    customers = await CustomerServiceStandIn.start();
  });
  afterAll(async () => {
    await Promise.all(modules.map((moduleRef) => moduleRef.close()));
    await customers?.close();
  });

  it('reports a created profile, and an existing one (409) as a success too', async () => {
    const client = await clientFor(customers.url);
    customers.status = 201;
    expect(await client.createProfile(profile)).toBe('created');
    customers.status = 409;
    expect(await client.createProfile(profile)).toBe('existed');
  });

  it('reports the service as unavailable on a 5xx, a refused connection and a timeout', async () => {
    const client = await clientFor(customers.url);
    customers.status = 500;
    await expect(client.createProfile(profile)).rejects.toThrow(
      new CustomerServiceUnavailable('customer service answered 500'),
    );

    const nobody = await clientFor(`http://127.0.0.1:${await freePort()}`);
    await expect(nobody.createProfile(profile)).rejects.toThrow(/customer service unreachable/);

    customers.status = 'hang';
    const started = Date.now();
    await expect(client.createProfile(profile)).rejects.toBeInstanceOf(CustomerServiceUnavailable);
    expect(Date.now() - started).toBeLessThan(4500);
  });
});
