import { Scope, type ScopeName } from '#lab/auth';

/** What a signed-up user gets, and the seeded admin. */
export const USER_SCOPES: readonly ScopeName[] = [Scope.Profile, Scope.Orders];
export const ADMIN_SCOPES: readonly ScopeName[] = [
  ...USER_SCOPES,
  Scope.Admin,
  Scope.ProductsWrite,
  Scope.CustomersRead,
];
