import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController, type OpenAPIObject } from '@nestjs/swagger';
import { OpenApiDocument } from './openapi-document.js';

/** `GET /openapi.json`: the service's own OpenAPI document (not itself an operation in it). */
@Controller()
@ApiExcludeController()
export class OpenApiController {
  constructor(private readonly document: OpenApiDocument) {}

  @Get('openapi.json')
  @Header('Cache-Control', 'public, max-age=60')
  openapi(): OpenAPIObject {
    return this.document.get();
  }
}
