import { Controller, Get, Headers, Res } from '@nestjs/common';
import { ApiExtension, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { renderMetrics } from './prometheus.js';

/**
 * Prometheus scrape endpoint: the default prom-client registry as Prometheus text, or as OpenMetrics
 * (with exemplars linking to traces) when the scraper's `Accept` asks for it.
 */
@Controller()
@ApiTags('operations')
@ApiExtension('x-internal', true)
export class MetricsController {
  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus scrape (OpenMetrics with exemplars when asked for)' })
  @ApiOkResponse({
    content: {
      'text/plain': { schema: { type: 'string' } },
      'application/openmetrics-text': { schema: { type: 'string' } },
    },
  })
  async metrics(
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const { contentType, body } = await renderMetrics(accept);
    void reply.header('content-type', contentType).header('cache-control', 'no-store');
    return body;
  }
}
