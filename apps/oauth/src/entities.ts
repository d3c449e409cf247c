import { Client } from './clients/client.entity.js';
import { SigningKey } from './keys/signing-key.entity.js';
import { ThrottleBucket } from './tokens/throttle-bucket.entity.js';
import { RefreshToken } from './tokens/refresh-token.entity.js';
import { User } from './users/user.entity.js';

/** Every collection of the oauth database. */
export const OAUTH_ENTITIES = [User, Client, SigningKey, RefreshToken, ThrottleBucket];
