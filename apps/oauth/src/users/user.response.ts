import { ApiProperty } from '@nestjs/swagger';
import type { User } from './user.entity.js';

export class UserResponse {
  @ApiProperty({ example: '65f0c0ffee0000000000abcd' })
  id!: string;

  @ApiProperty({ format: 'email' })
  email!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

export function toUserResponse(user: User): UserResponse {
  return {
    id: user._id.toHexString(),
    email: user.email,
    name: user.name,
    createdAt: user.createdAt.toISOString(),
  };
}
