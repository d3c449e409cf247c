import type { User } from './user.entity.js';

export interface UserResponse {
  id: string;
  email: string;
  name: string;
  createdAt: string;
}

export function toUserResponse(user: User): UserResponse {
  return { id: user._id.toHexString(), email: user.email, name: user.name, createdAt: user.createdAt.toISOString() };
}
