import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * RFC 9457 problem details as every service and the gateway answer errors (`application/problem+json`).
 * Extension members vary by error (`productId`, `available`, RFC 6749's `error`…), so more are allowed.
 */
export class ProblemResponse {
  @ApiProperty({ example: 'about:blank' })
  type!: string;

  @ApiProperty({ description: 'The HTTP status text.' })
  title!: string;

  @ApiProperty({ type: 'integer', description: 'The HTTP status.' })
  status!: number;

  @ApiPropertyOptional({ description: 'What went wrong, for a person.' })
  detail?: string;

  @ApiProperty({ example: '/orders', description: 'The path of the request, without its query.' })
  instance!: string;

  @ApiProperty({ description: 'The request id, also in the `x-request-id` header: quote it when reporting.' })
  request_id!: string;

  @ApiPropertyOptional({
    description: 'The W3C trace id of the request (Jaeger, Zipkin), when it was traced.',
  })
  trace_id?: string;

  @ApiPropertyOptional({
    description: 'A stable, machine-readable error code (`out_of_stock`, `rate_limited`, `circuit_open`, …).',
  })
  code?: string;

  @ApiPropertyOptional({ type: [String], description: 'One message per invalid field (400).' })
  errors?: string[];
}
