import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { FaultRoutesController } from '../faults/fault-routes.controller.js';
import { ProtectedRoutesController, PublicRoutesController } from '../proxy/proxy.controllers.js';

/** One route of the gateway: `method` is `ALL` for `@All`; `pattern` matches a concrete path. */
export interface GatewayRoute {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  readonly controller: string;
}

/** The controllers that route public requests: proxied to a backend, or the gateway's own fault switch. */
export const ROUTING_CONTROLLERS: readonly Type<unknown>[] = [
  PublicRoutesController,
  ProtectedRoutesController,
  FaultRoutesController,
];

/** The gateway's route table, read from its controllers' decorators (what Nest registers). */
export function gatewayRoutes(controllers: readonly Type<unknown>[] = ROUTING_CONTROLLERS): GatewayRoute[] {
  const routes: GatewayRoute[] = [];
  for (const controller of controllers) {
    const prefix = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '').replace(/^\/|\/$/g, '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler: unknown = Reflect.get(controller.prototype as object, name);
      if (name === 'constructor' || typeof handler !== 'function') continue;
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue; // a helper, not a route
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
      for (const path of [Reflect.getMetadata(PATH_METADATA, handler) as string | string[]].flat()) {
        const full = `/${[prefix, path.replace(/^\//, '')].filter(Boolean).join('/')}`;
        const source = full
          .split('/')
          .map((segment) =>
            segment === '*' ? '.+' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.]/g, '\\.'),
          )
          .join('/');
        routes.push({ method, path: full, pattern: new RegExp(`^${source}$`), controller: controller.name });
      }
    }
  }
  return routes;
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
