import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { type Page, PageQueryDto, toPage } from '#lab/database';
import { LabError } from '#lab/errors';
import type { FastifyReply } from 'fastify';
import { CreateOrderDto } from './dto/create-order.dto.js';
import { type OrderResponse, toOrderResponse } from './order.response.js';
import { OrdersService } from './orders.service.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Requires an `Idempotency-Key`: a retry with the same key and body replays the first answer. */
  @Post()
  @Authenticated(Scope.Orders)
  async create(
    @CurrentUser() user: Principal,
    @Headers('authorization') authorization: string,
    @Headers('idempotency-key') key: string | undefined,
    @Body() body: CreateOrderDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OrderResponse> {
    if (!key || !IDEMPOTENCY_KEY.test(key)) {
      throw new LabError('idempotency_key_required', 'an Idempotency-Key header (1-255 visible ASCII characters) is required');
    }
    const outcome = await this.orders.create(user, authorization, key, body.lines);
    void reply.status(outcome.status);
    return outcome.body;
  }

  @Get()
  @Authenticated()
  async list(@CurrentUser() user: Principal, @Query() query: PageQueryDto): Promise<Page<OrderResponse>> {
    const { items, total } = await this.orders.list(user, query);
    return toPage(items, total, query, toOrderResponse);
  }

  @Get(':id')
  @Authenticated()
  async findOne(@CurrentUser() user: Principal, @Param('id') id: string): Promise<OrderResponse> {
    return toOrderResponse(await this.orders.findVisible(user, id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Authenticated()
  async cancel(@CurrentUser() user: Principal, @Param('id') id: string): Promise<OrderResponse> {
    return toOrderResponse(await this.orders.cancel(user, id));
  }
}
