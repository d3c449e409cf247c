import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { MongoRepository } from 'typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { PasswordHasher } from '../hashing/password-hasher.js';
import { Client } from './client.entity.js';
import { SERVICE_CLIENTS, type ServiceClientId } from './client-registry.js';

@Injectable()
export class ClientsService implements OnModuleInit {
  private readonly logger = new Logger(ClientsService.name);

  constructor(
    @InjectRepository(Client) private readonly clients: MongoRepository<Client>,
    private readonly hasher: PasswordHasher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Seeds the service clients at start-up; a secret changed in the configuration replaces the stored
   * hash. Their hashes are the service's own: they wait for the hashing queue however busy the machine
   * is, never shed as a client's sign-in would be.
   */
  async onModuleInit(): Promise<void> {
    const secrets: Record<ServiceClientId, string> = {
      'order-service': this.config.oauth.clientSecrets.order,
      'admin-cli': this.config.oauth.clientSecrets.admin,
    };
    await Promise.all(
      (Object.keys(SERVICE_CLIENTS) as ServiceClientId[]).map((clientId) =>
        this.seed(clientId, secrets[clientId], [...SERVICE_CLIENTS[clientId]]).catch((error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          throw new Error(`seeding the OAuth client ${clientId} failed: ${reason}`, { cause: error });
        }),
      ),
    );
  }

  /** The client when the secret is its own; unknown clients take as long as known ones. */
  async authenticate(clientId: string, secret: string, ip: string): Promise<Client | undefined> {
    const client = await this.clients.findOneBy({ clientId });
    const valid = await this.hasher.verify(secret, client?.secretHash, { client: ip });
    return client && valid ? client : undefined;
  }

  private async seed(clientId: string, secret: string, scopes: string[]): Promise<void> {
    const existing = await this.clients.findOneBy({ clientId });
    if (!existing) {
      try {
        const now = new Date();
        await this.clients.save(
          this.clients.create({
            clientId,
            secretHash: await this.hasher.hash(secret, 'service'),
            scopes,
            createdAt: now,
            updatedAt: now,
          }),
        );
        this.logger.log(`seeded client ${clientId}`);
      } catch (error) {
        // Another instance seeded it at the same moment.
        if (!isDuplicateKeyError(error)) throw error;
      }
      return;
    }
    const secretChanged = !(await this.hasher.verify(secret, existing.secretHash, 'service'));
    const scopesChanged = existing.scopes.join(' ') !== scopes.join(' ');
    if (!secretChanged && !scopesChanged) return;
    await this.clients.updateOne(
      { clientId },
      {
        $set: {
          secretHash: secretChanged ? await this.hasher.hash(secret, 'service') : existing.secretHash,
          scopes,
          updatedAt: new Date(),
        },
      },
    );
    this.logger.log(
      `updated client ${clientId} from the configuration (${secretChanged ? 'secret' : 'scopes'} changed)`,
    );
  }
}
