import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { type Page, PageQueryDto, toPage } from '#lab/database';
import { ApiInternal, ApiPageResponse, ApiProblems, ApiScopes } from '#lab/openapi';
import { CustomerResponse, toCustomerResponse } from './customer.response.js';
import type { Customer } from './customer.entity.js';
import { CustomersService } from './customers.service.js';
import { CreateCustomerDto } from './dto/create-customer.dto.js';
import { UpdateCustomerDto } from './dto/update-customer.dto.js';

@Controller('customers')
@ApiTags('customers')
export class CustomersController {
  constructor(
    private readonly customers: CustomersService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** With the order summary when the lab runs with events (AMQP_URL), else `orders: null`. */
  private readonly respond = (customer: Customer): CustomerResponse =>
    toCustomerResponse(customer, this.config.events.amqpUrl !== undefined);

  /** Internal (the oauth service at sign-up); the gateway never routes it. */
  @Post()
  @HttpCode(201)
  @Authenticated(Scope.CustomersCreate)
  @ApiOperation({ summary: 'Create the profile of a user who just signed up (oauth)' })
  @ApiInternal()
  @ApiScopes(Scope.CustomersCreate)
  @ApiCreatedResponse({ type: CustomerResponse })
  @ApiProblems(400, 409)
  async create(@Body() body: CreateCustomerDto): Promise<CustomerResponse> {
    return this.respond(await this.customers.create(body));
  }

  @Get('me')
  @Authenticated(Scope.Profile)
  @ApiOperation({ summary: 'Your own profile' })
  @ApiScopes(Scope.Profile)
  @ApiOkResponse({ type: CustomerResponse })
  @ApiProblems(404)
  async me(@CurrentUser() user: Principal): Promise<CustomerResponse> {
    return this.respond(await this.customers.findOwn(user));
  }

  @Patch('me')
  @Authenticated(Scope.Profile)
  @ApiOperation({ summary: 'Change your name or address (either or both)' })
  @ApiScopes(Scope.Profile)
  @ApiOkResponse({ type: CustomerResponse })
  @ApiProblems(400, 404)
  async updateMe(@CurrentUser() user: Principal, @Body() body: UpdateCustomerDto): Promise<CustomerResponse> {
    return this.respond(await this.customers.updateOwn(user, body));
  }

  @Get(':id')
  @Authenticated()
  @ApiOperation({
    summary: 'One profile: your own, or any with customers:read or admin (404 for anyone else)',
  })
  @ApiScopes()
  @ApiOkResponse({ type: CustomerResponse })
  @ApiProblems(404)
  async findOne(@CurrentUser() user: Principal, @Param('id') id: string): Promise<CustomerResponse> {
    return this.respond(await this.customers.findVisible(user, id));
  }

  @Get()
  @Authenticated(Scope.Admin)
  @ApiOperation({ summary: 'Every profile, a page at a time' })
  @ApiScopes(Scope.Admin)
  @ApiPageResponse(CustomerResponse)
  @ApiProblems(400)
  async list(@Query() query: PageQueryDto): Promise<Page<CustomerResponse>> {
    const { items, total } = await this.customers.list(query);
    return toPage(items, total, query, this.respond);
  }
}
