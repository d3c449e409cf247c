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

/** The public client users sign in with (password and refresh_token grants; no secret). */
export const PUBLIC_CLIENT_ID = 'lab-web';
