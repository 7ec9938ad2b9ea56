import { randomBytes } from 'node:crypto';
import type { ApiScope } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import type { CredentialCache } from '../security/credential-cache.js';
import { hashSecret } from '../security/secret-hash.js';
import type { ApiClientRecord, ConfigStore } from '../storage/types.js';
import type { ClientCredentials } from './client-credentials.js';

/**
 * Checks API client credentials and scopes. An unknown client id costs the same
 * scrypt work as a wrong secret, so response times do not reveal which ids exist.
 */
export class ApiClientAuthenticator {
  private constructor(
    private readonly store: ConfigStore,
    private readonly credentials: CredentialCache,
    private readonly decoyHash: string,
  ) {}

  static async create(store: ConfigStore, credentials: CredentialCache, scryptLogN: number) {
    const decoyHash = await hashSecret(randomBytes(16).toString('hex'), scryptLogN);
    return new ApiClientAuthenticator(store, credentials, decoyHash);
  }

  /** The client, when the credentials are valid; `invalid_client` otherwise. */
  async authenticate(presented: ClientCredentials): Promise<ApiClientRecord> {
    const client = await this.store.getApiClient(presented.clientId);
    const ok = await this.credentials.verify(
      presented.clientId,
      presented.clientSecret,
      client?.secret_hash ?? this.decoyHash,
    );
    if (!client || !ok) throw new RegistrarError('invalid_client');
    return client;
  }

  /** `insufficient_permissions` unless the client holds `scope`. */
  static requireScope(client: ApiClientRecord, scope: ApiScope): void {
    if (!client.scopes.includes(scope)) throw new RegistrarError('insufficient_permissions');
  }
}
