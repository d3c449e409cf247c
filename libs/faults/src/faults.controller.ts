import { Body, Controller, Delete, Get, HttpCode, Put } from '@nestjs/common';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { FaultsService, type FaultsView } from './faults.service.js';

/** `/admin/faults` of every service: read, change (any subset of the fields) or clear its faults. */
@Controller('admin/faults')
@Authenticated(Scope.Admin)
export class FaultsController {
  constructor(private readonly faults: FaultsService) {}

  @Get()
  show(): FaultsView {
    return this.faults.view();
  }

  @Put()
  @HttpCode(200)
  change(@Body() body: unknown, @CurrentUser() user: Principal): FaultsView {
    return this.faults.update(body, user);
  }

  @Delete()
  @HttpCode(200)
  clear(@CurrentUser() user: Principal): FaultsView {
    return this.faults.reset(user);
  }
}
