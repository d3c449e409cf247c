import { ConflictException, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import { isDuplicateKeyError, objectIdFrom } from '#lab/database';
import { dependencyUnavailable } from '#lab/http-client';
import { type HashCaller, PasswordHasher } from '../hashing/password-hasher.js';
import { CustomerClient, CustomerServiceUnavailable } from './customer.client.js';
import type { CreateUserDto } from './dto/create-user.dto.js';
import { User } from './user.entity.js';
import { USER_SCOPES } from './user-scopes.js';

export interface NewUser {
  readonly email: string;
  readonly password: string;
  readonly name: string;
  readonly scopes: readonly string[];
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    @InjectRepository(User) private readonly users: MongoRepository<User>,
    private readonly hasher: PasswordHasher,
    private readonly customers: CustomerClient,
    private readonly traces: TraceService,
  ) {}

  /**
   * Signs a user up: the account, then its customer profile. When the profile cannot be created the
   * account is deleted again (503), so a retry starts from scratch.
   */
  @Span('user.register')
  register(user: CreateUserDto, ip: string): Promise<User> {
    return this.signUp(user, ip);
  }

  private async signUp({ email, password, name }: CreateUserDto, ip: string): Promise<User> {
    // Saves a scrypt run on the common case; the unique index decides under concurrency.
    if ((await this.users.countBy({ email })) > 0)
      throw new ConflictException('an account with this email already exists');
    const user = await this.insert({ email, password, name, scopes: USER_SCOPES }, { client: ip });
    if (!user) throw new ConflictException('an account with this email already exists');
    const userId = user._id.toHexString();
    this.traces.getSpan()?.setAttributes({ 'enduser.id': userId });
    try {
      await this.customers.createProfile({ userId, email, name });
    } catch (error) {
      await this.users.deleteOne({ _id: user._id });
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        `sign-up of user ${userId} undone: the customer profile could not be created (${reason})`,
      );
      if (error instanceof CustomerServiceUnavailable) {
        throw dependencyUnavailable(
          'the customer service is unavailable, so the account was not created; try again later',
          error.cause,
        );
      }
      throw error;
    }
    this.logger.log(`user ${userId} signed up`);
    return user;
  }

  /**
   * Inserts a user, or answers undefined when the email is taken (checked by the unique index).
   * `caller` is whose password hash it is ({@link HashCaller}: a client's sign-up is shed when overloaded).
   */
  async insert({ email, password, name, scopes }: NewUser, caller: HashCaller): Promise<User | undefined> {
    const user = this.users.create({
      email,
      name,
      passwordHash: await this.hasher.hash(password, caller),
      scopes: [...scopes],
      createdAt: new Date(),
    });
    try {
      return await this.users.save(user);
    } catch (error) {
      if (isDuplicateKeyError(error)) return undefined;
      throw error;
    }
  }

  /** Whether `password` is this user's; true also means nothing had to change. */
  async passwordMatches(user: User, password: string, caller: HashCaller): Promise<boolean> {
    return this.hasher.verify(password, user.passwordHash, caller);
  }

  async setPassword(user: User, password: string, caller: HashCaller): Promise<void> {
    await this.users.updateOne(
      { _id: user._id },
      { $set: { passwordHash: await this.hasher.hash(password, caller) } },
    );
  }

  findByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email: email.trim().toLowerCase() });
  }

  findById(id: string): Promise<User | null> {
    const _id = objectIdFrom(id);
    return _id ? this.users.findOneBy({ _id }) : Promise.resolve(null);
  }
}
