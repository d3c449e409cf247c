import { Body, Controller, Ip, Post } from '@nestjs/common';
import { CreateUserDto } from './dto/create-user.dto.js';
import { toUserResponse, type UserResponse } from './user.response.js';
import { UsersService } from './users.service.js';

@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Sign-up; also creates the customer profile (503 and no account when that fails). */
  @Post()
  async register(@Body() body: CreateUserDto, @Ip() ip: string): Promise<UserResponse> {
    return toUserResponse(await this.users.register(body, ip));
  }
}
