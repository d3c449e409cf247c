import { Module } from '@nestjs/common';
import { FaultsModule } from '#lab/faults';
import { TelemetryModule } from '#lab/telemetry';
import { ServiceClient } from './service-client.js';

/** {@link ServiceClient}; the fault switch (`unreachable`) and the metrics it reports to come from the modules imported. */
@Module({ imports: [FaultsModule, TelemetryModule], providers: [ServiceClient], exports: [ServiceClient] })
export class HttpClientModule {}
