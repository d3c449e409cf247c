import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController, type OpenAPIObject } from '@nestjs/swagger';
import { PublicDocumentService } from './public-document.service.js';

/** `GET /openapi.json`: the public API (what Swagger UI at `/docs` shows). Not rate-limited, no faults. */
@Controller()
@ApiExcludeController()
export class PublicOpenApiController {
  constructor(private readonly documents: PublicDocumentService) {}

  @Get('openapi.json')
  @Header('Cache-Control', 'no-cache')
  openapi(): Promise<OpenAPIObject> {
    return this.documents.document();
  }
}
