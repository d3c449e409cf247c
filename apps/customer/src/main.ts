import { runService } from '#lab/bootstrap';
import { AppModule } from './app.module.js';
import { connectOrderEvents } from './order-summary/connect-order-events.js';

await runService('customer', AppModule, { afterListen: connectOrderEvents });
