import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { type Page, PageQueryDto, toPage } from '#lab/database';
import { type CustomerResponse, toCustomerResponse } from './customer.response.js';
import { CustomersService } from './customers.service.js';
import { CreateCustomerDto } from './dto/create-customer.dto.js';
import { UpdateCustomerDto } from './dto/update-customer.dto.js';

@Controller('customers')
export class CustomersController {
  constructor(private readonly customers: CustomersService) {}

  /** Internal (the oauth service at sign-up); the gateway never routes it. */
  @Post()
  @HttpCode(201)
  @Authenticated(Scope.CustomersCreate)
  async create(@Body() body: CreateCustomerDto): Promise<CustomerResponse> {
    return toCustomerResponse(await this.customers.create(body));
  }

  @Get('me')
  @Authenticated(Scope.Profile)
  async me(@CurrentUser() user: Principal): Promise<CustomerResponse> {
    return toCustomerResponse(await this.customers.findOwn(user));
  }

  @Patch('me')
  @Authenticated(Scope.Profile)
  async updateMe(@CurrentUser() user: Principal, @Body() body: UpdateCustomerDto): Promise<CustomerResponse> {
    return toCustomerResponse(await this.customers.updateOwn(user, body));
  }

  @Get(':id')
  @Authenticated()
  async findOne(@CurrentUser() user: Principal, @Param('id') id: string): Promise<CustomerResponse> {
    return toCustomerResponse(await this.customers.findVisible(user, id));
  }

  @Get()
  @Authenticated(Scope.Admin)
  async list(@Query() query: PageQueryDto): Promise<Page<CustomerResponse>> {
    const { items, total } = await this.customers.list(query);
    return toPage(items, total, query, toCustomerResponse);
  }
}
