import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '#lab/config';
import { OrderEventsServer } from './order-events.server.js';

/**
 * Makes the customer service a hybrid app once HTTP listens: the order-events consumer connects in the
 * background (amqp-connection-manager retries forever), so a missing broker never delays readiness.
 */
export function connectOrderEvents(app: NestFastifyApplication, config: AppConfig): void {
  const logger = new Logger('OrderEvents');
  const url = config.events.amqpUrl;
  if (!url) {
    logger.warn('events off (AMQP_URL not set): profiles answer orders: null');
    return;
  }
  app.connectMicroservice({ strategy: new OrderEventsServer(url) });
  app.startAllMicroservices().then(
    () => logger.log(`consuming order events from ${new URL(url).host}`),
    (error: unknown) =>
      logger.error(`order-events consumer failed: ${error instanceof Error ? error.message : String(error)}`),
  );
}
