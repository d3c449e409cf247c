import { runService } from '#lab/bootstrap';
import { AppModule } from './app.module.js';

await runService('gateway', AppModule);
