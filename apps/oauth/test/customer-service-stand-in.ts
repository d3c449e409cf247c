import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProfileRequest {
  readonly authorization: string | undefined;
  readonly body: { userId?: string; email?: string; name?: string };
}

/**
 * Stands in for the customer service's internal `POST /customers` (the real one is another app):
 * records each call and answers `status` (201 with the profile, or whatever a test switches it to;
 * 'hang' never answers).
 */
export class CustomerServiceStandIn {
  readonly received: ProfileRequest[] = [];
  status: number | 'hang' = 201;
  private readonly server = createServer((request, response) => void this.handle(request, response));

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<CustomerServiceStandIn> {
    const standIn = new CustomerServiceStandIn();
    standIn.server.listen(0, '127.0.0.1');
    await once(standIn.server, 'listening');
    return standIn;
  }

  /** The last profile request for this email. */
  requestFor(email: string): ProfileRequest | undefined {
    return this.received.findLast((request) => request.body.email === email);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method !== 'POST' || request.url !== '/customers') {
      response.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as ProfileRequest['body'];
    this.received.push({ authorization: request.headers.authorization, body });
    if (this.status === 'hang') return;
    const profile = { id: `customer-${this.received.length}`, ...body, createdAt: new Date().toISOString() };
    response
      .writeHead(this.status, { 'content-type': 'application/json' })
      .end(JSON.stringify(this.status === 201 ? profile : {}));
  }
}
