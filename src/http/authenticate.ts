import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiScope } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import type { CredentialCache } from '../security/credential-cache.js';
import { hashSecret } from '../security/secret-hash.js';
import type { ApiClientRecord, ApplicationRecord, ConfigStore } from '../storage/types.js';
import { noteAudit } from './audit.js';
import { type ClientCredentials, readClientCredentials } from './client-credentials.js';

/**
 * Checks client credentials against one kind of stored client (API clients or
 * applications). An unknown client id costs the same scrypt work as a wrong secret,
 * so response times do not reveal which ids exist.
 */
/** What every kind of authenticated client has. */
type StoredClient = { client_id: string; secret_hash: string };

export class ClientAuthenticator<T extends StoredClient> {
  private constructor(
    private readonly lookup: (clientId: string) => Promise<T | undefined>,
    private readonly credentials: CredentialCache,
    private readonly decoyHash: string,
  ) {}

  static async create<T extends StoredClient>(
    lookup: (clientId: string) => Promise<T | undefined>,
    credentials: CredentialCache,
    scryptLogN: number,
  ): Promise<ClientAuthenticator<T>> {
    const decoyHash = await hashSecret(randomBytes(16).toString('hex'), scryptLogN);
    return new ClientAuthenticator(lookup, credentials, decoyHash);
  }

  /** The client, when the credentials are valid; `invalid_client` otherwise. */
  async authenticate(presented: ClientCredentials): Promise<T> {
    const client = await this.lookup(presented.clientId);
    const ok = await this.credentials.verify(
      presented.clientId,
      presented.clientSecret,
      client?.secret_hash ?? this.decoyHash,
    );
    if (!client || !ok) throw new RegistrarError('invalid_client');
    return client;
  }

  /**
   * Authenticates the caller of `request` (Basic, or the `form`'s client_id and
   * client_secret when the endpoint takes forms) and notes the client in its audit record.
   */
  async authenticateRequest(request: FastifyRequest, form?: URLSearchParams): Promise<T> {
    const client = await this.authenticate(readClientCredentials(request.headers.authorization, form));
    noteAudit(request, { clientId: client.client_id });
    return client;
  }
}

export type ApiClientAuthenticator = ClientAuthenticator<ApiClientRecord>;
export type ApplicationAuthenticator = ClientAuthenticator<ApplicationRecord>;

/** Authenticators for API clients and for applications, each with its own credential cache. */
export async function createAuthenticators(
  store: ConfigStore,
  makeCache: () => CredentialCache,
  scryptLogN: number,
): Promise<{ apiClients: ApiClientAuthenticator; applications: ApplicationAuthenticator }> {
  return {
    apiClients: await ClientAuthenticator.create((id) => store.getApiClient(id), makeCache(), scryptLogN),
    applications: await ClientAuthenticator.create((id) => store.getApplication(id), makeCache(), scryptLogN),
  };
}

/** `insufficient_permissions` unless the API client holds `scope` (the registry's text names `User registration`). */
export function requireScope(client: ApiClientRecord, scope: ApiScope): void {
  if (client.scopes.includes(scope)) return;
  throw new RegistrarError(
    'insufficient_permissions',
    scope === 'user_registration'
      ? undefined
      : `The API client does not have the required \`${scope}\` scope.`,
  );
}
