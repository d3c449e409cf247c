import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { OpenApiController } from './openapi.controller.js';
import { OPENAPI_OPTIONS, OpenApiDocument, type OpenApiOptions } from './openapi-document.js';

/**
 * `GET /openapi.json` for a backend service: its document, built from its own controllers and DTOs.
 * `controller: false` keeps the document without serving it (the gateway serves its public one).
 */
@Module({})
export class OpenApiModule {
  static forService(options: OpenApiOptions & { controller?: false }): DynamicModule {
    const controllers: Type<unknown>[] = options.controller === false ? [] : [OpenApiController];
    return {
      module: OpenApiModule,
      controllers,
      providers: [{ provide: OPENAPI_OPTIONS, useValue: options }, OpenApiDocument],
      exports: [OpenApiDocument],
    };
  }
}
