import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { type Page, PageQueryDto, toPage } from '#lab/database';
import { LabError } from '#lab/errors';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiIdempotencyKey, ApiPageResponse, ApiProblems, ApiScopes } from '#lab/openapi';
import type { FastifyReply } from 'fastify';
import { CreateOrderDto } from './dto/create-order.dto.js';
import { OrderResponse, toOrderResponse } from './order.response.js';
import { OrdersService } from './orders.service.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

@Controller('orders')
@ApiTags('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Requires an `Idempotency-Key`: a retry with the same key and body replays the first answer. */
  @Post()
  @Authenticated(Scope.Orders)
  @ApiOperation({
    summary: 'Place an order: reserves every line, all or nothing',
    description:
      'A retry with the same Idempotency-Key and body replays the first answer; another body with that key is 422, and 409 while the first is still running. Out of stock is 409 `out_of_stock` (with `productId` and `available`).',
  })
  @ApiScopes(Scope.Orders)
  @ApiIdempotencyKey()
  @ApiCreatedResponse({ type: OrderResponse, description: 'CONFIRMED: the stock is reserved.' })
  @ApiProblems(400, 404, 409, 422, 503, 504)
  async create(
    @CurrentUser() user: Principal,
    @Headers('authorization') authorization: string,
    @Headers('idempotency-key') key: string | undefined,
    @Body() body: CreateOrderDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OrderResponse> {
    if (!key || !IDEMPOTENCY_KEY.test(key)) {
      throw new LabError(
        'idempotency_key_required',
        'an Idempotency-Key header (1-255 visible ASCII characters) is required',
      );
    }
    const outcome = await this.orders.create(user, authorization, key, body.lines);
    void reply.status(outcome.status);
    return outcome.body;
  }

  @Get()
  @Authenticated()
  @ApiOperation({ summary: 'Your orders (every order with admin), newest first' })
  @ApiScopes()
  @ApiPageResponse(OrderResponse)
  @ApiProblems(400)
  async list(@CurrentUser() user: Principal, @Query() query: PageQueryDto): Promise<Page<OrderResponse>> {
    const { items, total } = await this.orders.list(user, query);
    return toPage(items, total, query, toOrderResponse);
  }

  @Get(':id')
  @Authenticated()
  @ApiOperation({ summary: 'One order: yours, or any with admin (404 for anyone else)' })
  @ApiScopes()
  @ApiOkResponse({ type: OrderResponse })
  @ApiProblems(404)
  async findOne(@CurrentUser() user: Principal, @Param('id') id: string): Promise<OrderResponse> {
    return toOrderResponse(await this.orders.findVisible(user, id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Authenticated()
  @ApiOperation({
    summary: 'Cancel an order: CANCELLING, the stock released, then CANCELLED (twice is harmless)',
  })
  @ApiScopes()
  @ApiOkResponse({ type: OrderResponse })
  @ApiProblems(404, 409, 503)
  async cancel(@CurrentUser() user: Principal, @Param('id') id: string): Promise<OrderResponse> {
    return toOrderResponse(await this.orders.cancel(user, id));
  }
}
