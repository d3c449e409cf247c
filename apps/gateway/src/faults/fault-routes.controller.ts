import { Controller, Delete, Get, Param, Put, Req, Res } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { SERVICE_NAMES, type ServiceName } from '#lab/config';
import { LabError } from '#lab/errors';
import { FaultsService, type FaultsView } from '#lab/faults';
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
export class FaultRoutesController {
  private proxy?: ProxyService;

  constructor(
    private readonly faults: FaultsService,
    private readonly moduleRef: ModuleRef,
  ) {}

  @Get(':service')
  show(@Param('service') service: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.route(service, request, reply, () => this.faults.view());
  }

  @Put(':service')
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
      throw new LabError('unknown_service', `no service named ${JSON.stringify(service)} (one of ${SERVICE_NAMES.join(', ')})`);
    }
    if (service === 'gateway') {
      await reply.status(200).send(own());
      return;
    }
    // ProxyModule keeps its ProxyService to itself; the same instance is looked up rather than a second one made.
    this.proxy ??= this.moduleRef.get(ProxyService, { strict: false });
    // Past the breaker: the faults being undone may be what opened it, and the switch must always reach them.
    await this.proxy.forward(request, reply, service, '/admin/faults', { breaker: false });
  }
}
