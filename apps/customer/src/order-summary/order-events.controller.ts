import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload, RmqContext } from '@nestjs/microservices';
import { trace } from '@opentelemetry/api';
import type { ConfirmChannel, Message } from 'amqplib';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import {
  CUSTOMER_ORDER_EVENTS_RETRY_QUEUE,
  type OrderEvent,
  parseOrderEvent,
  RETRY_COUNT_HEADER,
  UNREADABLE_EVENT,
} from '#lab/events';
import { type ConsumeOutcome, ConsumerMetrics, UNKNOWN_TYPE } from './consumer.metrics.js';
import { OrderSummaryService } from './order-summary.service.js';

const exemplarOfActiveSpan = (): Record<string, string> => {
  const span = trace.getActiveSpan()?.spanContext();
  return span && trace.isSpanContextValid(span) && span.traceFlags & 1
    ? { trace_id: span.traceId, span_id: span.spanId }
    : {};
};

/**
 * The order-events consumer. Every delivery ends in exactly one of: ack (processed or duplicate), a copy
 * to the retry queue then ack (a failure, while retries remain: it comes back after the retry delay), or
 * nack without requeue, which dead-letters it (unreadable, or out of retries). Runs in the CONSUMER span
 * of the amqplib instrumentation, a child of the order service's PRODUCER span.
 */
@Controller()
export class OrderEventsController {
  private readonly logger = new Logger('OrderEvents');

  constructor(
    private readonly summaries: OrderSummaryService,
    private readonly metrics: ConsumerMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @EventPattern<string>('order.confirmed')
  confirmed(@Payload() data: unknown, @Ctx() context: RmqContext): Promise<void> {
    return this.handle(data, context);
  }

  @EventPattern<string>('order.cancelled')
  cancelled(@Payload() data: unknown, @Ctx() context: RmqContext): Promise<void> {
    return this.handle(data, context);
  }

  @EventPattern<string>('order.rejected')
  rejected(@Payload() data: unknown, @Ctx() context: RmqContext): Promise<void> {
    return this.handle(data, context);
  }

  @EventPattern<string>(UNREADABLE_EVENT)
  unreadable(@Payload() _data: unknown, @Ctx() context: RmqContext): Promise<void> {
    const channel = context.getChannelRef() as ConfirmChannel;
    const message = context.getMessage() as Message;
    this.deadLetter(
      channel,
      message,
      UNKNOWN_TYPE,
      'not an order event',
      String(message.properties.messageId ?? ''),
    );
    return Promise.resolve();
  }

  private async handle(data: unknown, context: RmqContext): Promise<void> {
    const channel = context.getChannelRef() as ConfirmChannel;
    const message = context.getMessage() as Message;
    const event = parseOrderEvent(data);
    if (typeof event === 'string') {
      this.deadLetter(channel, message, UNKNOWN_TYPE, event, String(message.properties.messageId ?? ''));
      return;
    }
    const span = trace.getActiveSpan();
    span?.setAttributes({
      'order.id': event.orderId,
      'messaging.message.id': event.eventId,
      'enduser.id': event.userId,
    });
    let outcome: ConsumeOutcome;
    try {
      outcome = await this.summaries.apply(event);
    } catch (error) {
      await this.retryOrDeadLetter(channel, message, event, error);
      return;
    }
    channel.ack(message);
    this.count(event.type, outcome);
    if (outcome === 'processed') {
      const seconds = Math.max(0, (Date.now() - Date.parse(event.occurredAt)) / 1000);
      this.metrics.lag.observe({
        labels: { type: event.type },
        value: seconds,
        exemplarLabels: exemplarOfActiveSpan(),
      });
    }
    this.logger.log(`${event.type} ${event.eventId} ${outcome}`);
  }

  /** Sends a copy to the retry queue (back after the delay) and acks, or dead-letters when out of retries. */
  private async retryOrDeadLetter(
    channel: ConfirmChannel,
    message: Message,
    event: OrderEvent,
    error: unknown,
  ): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    const retries = Number(message.properties.headers?.[RETRY_COUNT_HEADER] ?? 0) || 0;
    if (retries >= this.config.events.maxRetries) {
      this.deadLetter(channel, message, event.type, `${reason} (after ${retries} retries)`, event.eventId);
      return;
    }
    try {
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(
          CUSTOMER_ORDER_EVENTS_RETRY_QUEUE,
          message.content,
          {
            ...message.properties,
            headers: { ...message.properties.headers, [RETRY_COUNT_HEADER]: retries + 1 },
            expiration: String(this.config.events.retryDelayMs),
            persistent: true,
          },
          (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
        ),
      );
    } catch (sendError) {
      // Not confirmed: requeue the original (redelivered at once); counted as a retry all the same.
      channel.nack(message, false, true);
      this.count(event.type, 'retried');
      this.logger.warn(
        `${event.type} ${event.eventId} requeued: ${reason}; the retry queue refused it: ${String(sendError)}`,
      );
      return;
    }
    channel.ack(message);
    this.count(event.type, 'retried');
    this.logger.warn(
      `${event.type} ${event.eventId} failed (${reason}): retry ${retries + 1} of ${this.config.events.maxRetries} in ${this.config.events.retryDelayMs} ms`,
    );
  }

  private deadLetter(
    channel: ConfirmChannel,
    message: Message,
    type: string,
    reason: string,
    id: string,
  ): void {
    channel.nack(message, false, false);
    this.count(type, 'dead_lettered');
    this.logger.error(`event ${id || '(no id)'} dead-lettered: ${reason}`);
  }

  private count(type: string, outcome: ConsumeOutcome): void {
    this.metrics.consumed.inc({ type, outcome });
  }
}
