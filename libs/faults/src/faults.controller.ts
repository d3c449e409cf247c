import { Body, Controller, Delete, Get, HttpCode, Put } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { ApiInternal, ApiProblems, ApiScopes } from '#lab/openapi';
import { FAULT_UPDATE_SCHEMA, FAULTS_VIEW_SCHEMA } from './faults.schema.js';
import { FaultsService, type FaultsView } from './faults.service.js';

/** `/admin/faults` of every service: read, change (any subset of the fields) or clear its faults. */
@Controller('admin/faults')
@Authenticated(Scope.Admin)
@ApiTags('operations')
@ApiInternal()
@ApiScopes(Scope.Admin)
export class FaultsController {
  constructor(private readonly faults: FaultsService) {}

  @Get()
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  @ApiOperation({
    summary: "This service's injected faults (through the gateway: /api/admin/faults/{service})",
  })
  show(): FaultsView {
    return this.faults.view();
  }

  @Put()
  @HttpCode(200)
  @ApiOperation({ summary: 'Change any subset of the faults' })
  @ApiBody({ schema: FAULT_UPDATE_SCHEMA })
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  @ApiProblems(400)
  change(@Body() body: unknown, @CurrentUser() user: Principal): FaultsView {
    return this.faults.update(body, user);
  }

  @Delete()
  @HttpCode(200)
  @ApiOperation({ summary: 'Clear every fault' })
  @ApiOkResponse({ schema: FAULTS_VIEW_SCHEMA })
  clear(@CurrentUser() user: Principal): FaultsView {
    return this.faults.reset(user);
  }
}
