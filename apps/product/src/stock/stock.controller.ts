import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, Scope } from '#lab/auth';
import { ApiInternal, ApiProblems, ApiScopes } from '#lab/openapi';
import type { FastifyReply } from 'fastify';
import { ReservationParamsDto, ReserveStockDto } from './dto/reserve-stock.dto.js';
import {
  ReleaseResponse,
  ReservationResponse,
  ReservationStateResponse,
  toReservationResponse,
  toReservationStateResponse,
} from './reservation.response.js';
import { StockService } from './stock.service.js';

/** Internal, for the order service (the gateway never routes `/stock`). */
@Controller('stock/reservations')
@Authenticated(Scope.StockReserve)
@ApiTags('stock')
@ApiInternal()
@ApiScopes(Scope.StockReserve)
export class StockController {
  constructor(private readonly stock: StockService) {}

  /** 201 when reserved now, 200 when an earlier request with the same lines had reserved them. */
  @Put(':orderId')
  @ApiOperation({ summary: 'Reserve every line for an order, all or nothing' })
  @ApiCreatedResponse({ type: ReservationResponse, description: 'Reserved now.' })
  @ApiOkResponse({
    type: ReservationResponse,
    description: 'Reserved earlier by a request with the same lines.',
  })
  @ApiProblems(400, 404, 409)
  async reserve(
    @Param() { orderId }: ReservationParamsDto,
    @Body() body: ReserveStockDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ReservationResponse> {
    const { reservation, replayed } = await this.stock.reserve(orderId, body.lines);
    void reply.status(replayed ? 200 : 201);
    return toReservationResponse(reservation);
  }

  /** Idempotent: 200 whether this call released it, an earlier one did, or there was nothing yet. */
  @Delete(':orderId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Release what an order reserved (idempotent)' })
  @ApiOkResponse({ type: ReleaseResponse })
  @ApiProblems(400, 409)
  async release(@Param() { orderId }: ReservationParamsDto): Promise<ReleaseResponse> {
    await this.stock.release(orderId);
    return { orderId, status: 'RELEASED' };
  }

  @Get(':orderId')
  @ApiOperation({ summary: 'A reservation in any state (reconciliation)' })
  @ApiOkResponse({ type: ReservationStateResponse })
  @ApiProblems(400, 404)
  async find(@Param() { orderId }: ReservationParamsDto): Promise<ReservationStateResponse> {
    return toReservationStateResponse(await this.stock.find(orderId));
  }
}
