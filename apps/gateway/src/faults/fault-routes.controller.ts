import { Controller, Delete, Get, Param, Put, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { ApiProblems, ApiScopes } from '#lab/openapi';
import { SERVICE_NAMES, type ServiceName } from '#lab/config';
import { LabError } from '#lab/errors';
import { FAULT_UPDATE_SCHEMA, FAULTS_VIEW_SCHEMA, FaultsService, type FaultsView } from '#lab/faults';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProxyService } from '../proxy/proxy.service.js';

const isServiceName = (name: string): name is ServiceName =>
  (SERVICE_NAMES as readonly string[]).includes(name);

/**
 * `GET|PUT|DELETE /api/admin/faults/:service`: the fault switch of any service through the gateway
 * (admin scope, checked here and again by the service), forwarded to that service's `/admin/faults`,
 * or the gateway's own faults when `:service` is `gateway`. An unknown service is a 404. These calls go
 * past the upstream's circuit breaker (not stopped, not counted) and are never rate-limited.
 */
@Controller('api/admin/faults')
@Authenticated(Scope.Admin)
@ApiTags('faults')
@ApiScopes(Scope.Admin)
@ApiParam({ name: 'service', enum: SERVICE_NAMES, description: "`gateway` for the gateway's own faults." })
@ApiProblems(404, 503, 504)
export class FaultRoutesController {
  constructor(
    private readonly faults: FaultsService,
    private readonly proxy: ProxyService,
  ) {}

  @Get(':service')
  @ApiOperation({ summary: "A service's injected faults" })
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  show(@Param('service') service: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.route(service, request, reply, () => this.faults.view());
  }

  @Put(':service')
  @ApiOperation({
    summary:
      'Change any subset of its faults (latency, errorRatio, unreachable, readinessFailing, memoryMb, eventLoopBlockMs)',
  })
  @ApiBody({ schema: FAULT_UPDATE_SCHEMA })
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  @ApiProblems(400)
  change(
    @Param('service') service: string,
    @CurrentUser() user: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    // The gateway reads every body as bytes (it forwards them untouched); the service parses them.
    return this.route(service, request, reply, () => this.faults.update(request.body, user));
  }

  @Delete(':service')
  @ApiOperation({ summary: 'Clear all its faults' })
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  clear(
    @Param('service') service: string,
    @CurrentUser() user: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    return this.route(service, request, reply, () => this.faults.reset(user));
  }

  private async route(
    service: string,
    request: FastifyRequest,
    reply: FastifyReply,
    own: () => FaultsView,
  ): Promise<void> {
    if (!isServiceName(service)) {
      throw new LabError(
        'unknown_service',
        `no service named ${JSON.stringify(service)} (one of ${SERVICE_NAMES.join(', ')})`,
      );
    }
    if (service === 'gateway') {
      await reply.status(200).send(own());
      return;
    }
    // Past the breaker: the faults being undone may be what opened it, and the switch must always reach them.
    await this.proxy.forward(request, reply, service, '/admin/faults', { breaker: false });
  }
}
