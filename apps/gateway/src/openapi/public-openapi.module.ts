import { Module } from '@nestjs/common';
import { PUBLIC_CLIENT_ID } from '#lab/auth';
import { HttpClientModule } from '#lab/http-client';
import { OpenApiModule } from '#lab/openapi';
import { PublicDocumentService } from './public-document.service.js';
import { PublicOpenApiController } from './public-openapi.controller.js';

/**
 * The public API description: `GET /openapi.json` (the backends' documents, filtered by the gateway's
 * route table, with its own fault-switch routes) and Swagger UI at `/docs`, signing in with the password
 * flow at `/api/oauth/token` as the public client.
 */
@Module({
  imports: [
    HttpClientModule,
    OpenApiModule.forService({
      title: 'Observability Lab API',
      description: "The gateway's own routes.",
      controller: false,
      ui: { path: 'docs', documentUrl: '/openapi.json', clientId: PUBLIC_CLIENT_ID },
    }),
  ],
  controllers: [PublicOpenApiController],
  providers: [PublicDocumentService],
})
export class PublicOpenApiModule {}
