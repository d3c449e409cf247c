import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';

@Module({
  imports: [
    ConfigModule.forService('order'),
    DatabaseModule.forRoot([]),
    HealthModule.forRoot({ database: true }),
  ],
})
export class AppModule {}
