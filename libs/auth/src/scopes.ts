/** Access tokens: RS256 (verified on every hop, signed once per token; RSA verifies fastest), RFC 9068 type. */
export const SIGNING_ALGORITHM = 'RS256';
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export const Scope = {
  /** A signed-up user: own profile. */
  Profile: 'profile',
  /** A signed-up user: place and see own orders. */
  Orders: 'orders',
  /** Read every customer and order. */
  Admin: 'admin',
  ProductsWrite: 'products:write',
  /** Internal: the oauth service creates the profile at sign-up. */
  CustomersCreate: 'customers:create',
  /** Read any customer by id (admin tooling; the order service checks the buyer with the user's own token). */
  CustomersRead: 'customers:read',
  /** Internal: reserve and release stock (the order service). */
  StockReserve: 'stock:reserve',
} as const;
export type ScopeName = (typeof Scope)[keyof typeof Scope];

export const USER_SCOPES: readonly ScopeName[] = [Scope.Profile, Scope.Orders];
export const ADMIN_SCOPES: readonly ScopeName[] = [...USER_SCOPES, Scope.Admin, Scope.ProductsWrite, Scope.CustomersRead];

/** The public client users sign in with (password and refresh_token grants; no secret). */
export const PUBLIC_CLIENT_ID = 'lab-web';

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
