import { Scope, type ScopeName } from '#lab/auth';

/**
 * Confidential clients seeded by the oauth service (client_credentials grant), each with only what its
 * calls need: the order service reserves and releases stock with its own token, and checks the buyer by
 * relaying the user's token to `GET /customers/me`.
 */
export const SERVICE_CLIENTS = {
  'order-service': [Scope.StockReserve],
  'admin-cli': [Scope.Admin, Scope.ProductsWrite, Scope.CustomersRead],
} as const satisfies Record<string, readonly ScopeName[]>;
export type ServiceClientId = keyof typeof SERVICE_CLIENTS;

/** The oauth service signs its own tokens for its internal calls under this client id. */
export const OAUTH_SELF_CLIENT_ID = 'oauth-service';
