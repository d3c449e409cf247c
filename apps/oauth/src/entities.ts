import { Client } from './clients/client.entity.js';
import { SigningKey } from './keys/signing-key.entity.js';
import { LoginFailure } from './tokens/login-failure.entity.js';
import { RefreshToken } from './tokens/refresh-token.entity.js';
import { User } from './users/user.entity.js';

/** Every collection of the oauth database. */
export const OAUTH_ENTITIES = [User, Client, SigningKey, RefreshToken, LoginFailure];
