import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export const ISSUER = 'http://localhost:3000';
export const AUDIENCE = 'observability-lab';
const KID = 'product-spec-key';

/** Who a token speaks for, as the real oauth service issues them. */
export const PRINCIPALS = {
  orderService: { sub: 'order-service', client_id: 'order-service', scope: 'customers:read stock:reserve' },
  admin: {
    sub: '64b7f0c2a1b2c3d4e5f60718',
    client_id: 'lab-web',
    scope: 'profile orders admin products:write customers:read',
  },
  user: { sub: '64b7f0c2a1b2c3d4e5f60719', client_id: 'lab-web', scope: 'profile orders' },
} as const;
export type PrincipalName = keyof typeof PRINCIPALS;

/**
 * Stands in for the oauth service's `/.well-known/jwks.json` (the real one needs its own database and
 * the customer service): publishes one RS256 public key and signs access tokens the way oauth does.
 */
export class OAuthJwksStandIn {
  private readonly server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/.well-known/jwks.json') {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [this.publicJwk] }));
    } else {
      response.writeHead(404).end();
    }
  });

  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
  ) {}

  static async start(): Promise<OAuthJwksStandIn> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const standIn = new OAuthJwksStandIn(privateKey, {
      ...(await exportJWK(publicKey)),
      kid: KID,
      alg: 'RS256',
      use: 'sig',
    });
    standIn.server.listen(0, '127.0.0.1');
    await once(standIn.server, 'listening');
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A bearer token for one of the {@link PRINCIPALS}, valid for five minutes. */
  async token(principal: PrincipalName): Promise<string> {
    const { sub, client_id: clientId, scope } = PRINCIPALS[principal];
    return new SignJWT({ client_id: clientId, scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: KID })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sub)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.privateKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
