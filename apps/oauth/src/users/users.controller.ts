import { Body, Controller, Ip, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '#lab/openapi';
import { CreateUserDto } from './dto/create-user.dto.js';
import { toUserResponse, UserResponse } from './user.response.js';
import { UsersService } from './users.service.js';

@Controller('users')
@ApiTags('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Sign-up; also creates the customer profile (503 and no account when that fails). */
  @Post()
  @ApiOperation({
    summary:
      'Sign up: the account and its customer profile (503 and no account when the profile cannot be made)',
  })
  @ApiCreatedResponse({ type: UserResponse })
  @ApiProblems(400, 409, 503)
  async register(@Body() body: CreateUserDto, @Ip() ip: string): Promise<UserResponse> {
    return toUserResponse(await this.users.register(body, ip));
  }
}
