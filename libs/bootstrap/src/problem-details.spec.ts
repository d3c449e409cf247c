import { Body, Controller, Get, NotFoundException, Module, Post, ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { IsInt } from 'class-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabError } from '#lab/errors';
import { ProblemDetailsFilter } from './problem-details.js';

class CountDto {
  @IsInt()
  count!: number;
}

@Controller()
class ThrowingController {
  @Get('out-of-stock')
  outOfStock(): never {
    throw new LabError('out_of_stock', 'product p has 1 in stock, 2 requested', {
      details: { productId: 'p', available: 1 },
    });
  }

  @Get('circuit-open')
  circuitOpen(): never {
    throw new LabError('circuit_open', 'the product service is unavailable', { retryAfterSeconds: 7 });
  }

  @Get('timeout')
  timeout(): never {
    throw new LabError('upstream_timeout', 'the order service did not answer in time');
  }

  @Get('nest')
  nest(): never {
    throw new NotFoundException('order 1 not found');
  }

  @Get('bug')
  bug(): never {
    throw new Error('secret internals at /srv/app.ts:12');
  }

  @Post('count')
  count(@Body() body: CountDto): CountDto {
    return body;
  }
}

@Module({ controllers: [ThrowingController] })
class ThrowingModule {}

describe(ProblemDetailsFilter.name, () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ThrowingModule] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new ProblemDetailsFilter());
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }));
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('answers a LabError with the status of its code, its message as detail and its details beside the code', async () => {
    const answer = await get('/out-of-stock?x=1');

    expect(answer.statusCode).toBe(409);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(answer.json()).toEqual({
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'product p has 1 in stock, 2 requested',
      instance: '/out-of-stock',
      request_id: expect.any(String),
      code: 'out_of_stock',
      productId: 'p',
      available: 1,
    });
  });

  it('sends Retry-After (and no-store) when the error says when to come back', async () => {
    const answer = await get('/circuit-open');

    expect(answer.statusCode).toBe(503);
    expect(answer.headers['retry-after']).toBe('7');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.json()).toMatchObject({ status: 503, code: 'circuit_open' });
  });

  it('answers an upstream timeout with 504', async () => {
    expect((await get('/timeout')).json()).toMatchObject({
      status: 504,
      title: 'Gateway Timeout',
      code: 'upstream_timeout',
    });
  });

  it("answers Nest's own exceptions with their status: a 404 thrown, the router's 404, the ValidationPipe's 400", async () => {
    expect((await get('/nest')).json()).toMatchObject({ status: 404, detail: 'order 1 not found' });
    const unrouted = await get('/nowhere');
    expect(unrouted.statusCode).toBe(404);
    expect(unrouted.headers['content-type']).toMatch(/^application\/problem\+json/);
    const invalid = await app.inject({ method: 'POST', url: '/count', payload: { count: 'x', extra: 1 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({
      status: 400,
      detail: 'the request is invalid',
      errors: expect.arrayContaining([expect.stringContaining('count')]),
    });
  });

  it('answers any other error with a 500 that shows neither message nor stack', async () => {
    const answer = await get('/bug');

    expect(answer.statusCode).toBe(500);
    expect(answer.body).not.toMatch(/secret|srv|app\.ts/);
    expect(answer.json()).toMatchObject({ status: 500, detail: expect.stringContaining('request id') });
  });
});
