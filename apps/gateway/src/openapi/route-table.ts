import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { FaultRoutesController } from '../faults/fault-routes.controller.js';
import { PROXY_ROUTES } from '../proxy/proxy-routes.js';

/** One route of the gateway: `method` is `ALL` for every method; `pattern` matches a concrete path. */
export interface GatewayRoute {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  /** Counted by the rate limit (every proxy route; not the fault switch). */
  readonly rateLimited: boolean;
}

/** `/api/orders/*` or `/api/admin/faults/:service` as a RegExp of the concrete paths it serves. */
function patternOf(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) =>
      segment === '*' ? '.+' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.]/g, '\\.'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}

/** The routes of Nest controllers, read from their decorators (what Nest registers). */
function controllerRoutes(controller: Type<unknown>): GatewayRoute[] {
  const routes: GatewayRoute[] = [];
  const prefix = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '').replace(/^\/|\/$/g, '');
  for (const name of Object.getOwnPropertyNames(controller.prototype)) {
    const handler: unknown = Reflect.get(controller.prototype as object, name);
    if (name === 'constructor' || typeof handler !== 'function') continue;
    if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue; // a helper, not a route
    const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
    for (const path of [Reflect.getMetadata(PATH_METADATA, handler) as string | string[]].flat()) {
      const full = `/${[prefix, path.replace(/^\//, '')].filter(Boolean).join('/')}`;
      routes.push({ method, path: full, pattern: patternOf(full), rateLimited: false });
    }
  }
  return routes;
}

/** The gateway's route table: the proxy routes (`PROXY_ROUTES`) and the fault switch's controller. */
export function gatewayRoutes(): GatewayRoute[] {
  const proxied = PROXY_ROUTES.flatMap((route) =>
    route.paths.flatMap((path) =>
      (route.methods === 'ALL' ? ['ALL'] : route.methods).map((method) => ({
        method,
        path,
        pattern: patternOf(path),
        rateLimited: true,
      })),
    ),
  );
  return [...proxied, ...controllerRoutes(FaultRoutesController)];
}

/** `/api/orders/{id}/cancel` → `/api/orders/x/cancel`: a concrete path an OpenAPI path template stands for. */
export const concretePath = (template: string): string => template.replace(/\{[^}]+\}|:\w+/g, 'x');

/** The route that serves `method` on the OpenAPI path template `template`, if the gateway has one. */
export function routeFor(
  routes: readonly GatewayRoute[],
  method: string,
  template: string,
): GatewayRoute | undefined {
  const path = concretePath(template);
  const upper = method.toUpperCase();
  return routes.find(
    (route) => (route.method === 'ALL' || route.method === upper) && route.pattern.test(path),
  );
}
