import { Injectable } from '@nestjs/common';
import { Scope } from '#lab/auth';
import { OAUTH_SELF_CLIENT_ID } from '../clients/client-registry.js';
import { ServiceClient } from '#lab/http-client';
import { AccessTokenSigner } from '../keys/access-token.signer.js';

export interface NewCustomerProfile {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
}

/** The customer service could not be reached, timed out or answered something other than 201 or 409. */
export class CustomerServiceUnavailable extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'CustomerServiceUnavailable';
  }
}

const TIMEOUT_MS = 3000;
const SERVICE_TOKEN_TTL_SECONDS = 60;

/** Creates customer profiles, with a short-lived service token the oauth service signs for itself. */
@Injectable()
export class CustomerClient {
  constructor(
    private readonly signer: AccessTokenSigner,
    private readonly http: ServiceClient,
  ) {}

  /** 'existed' when the customer service already holds a profile for this user (409). */
  async createProfile(profile: NewCustomerProfile): Promise<'created' | 'existed'> {
    const { token } = await this.signer.sign({
      subject: OAUTH_SELF_CLIENT_ID,
      clientId: OAUTH_SELF_CLIENT_ID,
      scopes: [Scope.CustomersCreate],
      ttlSeconds: SERVICE_TOKEN_TTL_SECONDS,
    });
    let statusCode: number;
    try {
      ({ status: statusCode } = await this.http.call('customer', 'POST', '/customers', {
        json: profile,
        token,
        timeoutMs: TIMEOUT_MS,
      }));
    } catch (error) {
      const reason = `customer service unreachable: ${error instanceof Error ? error.message : String(error)}`;
      throw new CustomerServiceUnavailable(reason, { cause: error });
    }
    if (statusCode === 200 || statusCode === 201) return 'created';
    if (statusCode === 409) return 'existed';
    throw new CustomerServiceUnavailable(`customer service answered ${statusCode}`);
  }
}
