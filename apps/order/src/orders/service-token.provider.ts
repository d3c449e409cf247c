import { AsyncResource } from 'node:async_hooks';
import { Logger } from '@nestjs/common';
import type { ServiceClient } from '#lab/http-client';

/** Renew this long before expiry, so a token never expires in flight. */
const RENEW_BEFORE_MS = 60_000;
/** After a renewal in the background failed, the next one is tried no sooner than this. */
const RETRY_RENEWAL_AFTER_MS = 5000;

/**
 * An access token for this service's own calls (client_credentials), cached until shortly before it
 * expires; concurrent callers share one request. The oauth service spends ~0.5 s of scrypt per grant,
 * so the renewal runs in the background during the last minute of the token's life while callers keep
 * the token they have (it is still valid); only a caller without a valid token waits for a fetch.
 */
export class ServiceTokenProvider {
  private readonly logger = new Logger('ServiceToken');
  private cached?: { token: string; renewAt: number; expiresAt: number };
  private pending?: Promise<string>;
  private nextRenewalAt = 0;
  /**
   * The context this provider was made in (the service's start-up): a renewal in the background runs in
   * it, not in the request that happened to trigger it (whose trace and request id it is no part of).
   */
  private readonly background = new AsyncResource('ServiceTokenRenewal');

  constructor(
    private readonly http: ServiceClient,
    private readonly clientId: string,
    private readonly clientSecret: string,
  ) {}

  async token(): Promise<string> {
    const now = Date.now();
    const cached = this.cached;
    if (cached && now < cached.renewAt) return cached.token;
    if (cached && now < cached.expiresAt - RENEW_BEFORE_MS / 2) {
      if (!this.pending && now >= this.nextRenewalAt) {
        void this.background.runInAsyncScope(() =>
          this.renew().catch((error: unknown) => {
            this.nextRenewalAt = Date.now() + RETRY_RENEWAL_AFTER_MS;
            this.logger.warn(
              `renewing the token of ${this.clientId} in the background failed (the current one stays in use; next try in ${RETRY_RENEWAL_AFTER_MS / 1000} s): ${error instanceof Error ? error.message : String(error)}`,
            );
          }),
        );
      }
      return cached.token;
    }
    return this.renew();
  }

  /** After a 401 from a service: the token may have been signed by a key that was retired. */
  invalidate(): void {
    this.cached = undefined;
  }

  private renew(): Promise<string> {
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetch(): Promise<string> {
    const response = await this.http.call<{ access_token?: string; expires_in?: number; error?: string }>(
      'oauth',
      'POST',
      '/oauth/token',
      {
        form: {
          grant_type: 'client_credentials',
          client_id: this.clientId,
          client_secret: this.clientSecret,
        },
      },
    );
    const { access_token: token, expires_in: expiresIn = 60 } = response.body ?? {};
    if (response.status !== 200 || !token) {
      this.logger.error(
        `client_credentials for ${this.clientId} failed: ${response.status} ${response.body?.error ?? ''}`,
      );
      throw new Error(
        `could not obtain a service token for ${this.clientId} (oauth answered ${response.status})`,
      );
    }
    const now = Date.now();
    this.cached = {
      token,
      renewAt: now + Math.max(expiresIn * 1000 - RENEW_BEFORE_MS, expiresIn * 500),
      expiresAt: now + expiresIn * 1000,
    };
    return token;
  }
}
