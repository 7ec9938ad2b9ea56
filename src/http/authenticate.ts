import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiScope } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { type AuthAttempt, type AuthGuard, AuthRefusedError } from '../security/auth-guard.js';
import type { CredentialCache } from '../security/credential-cache.js';
import { hashSecret } from '../security/secret-hash.js';
import type { ApiClientRecord, ApplicationRecord, ConfigStore } from '../storage/types.js';
import { noteAudit } from './audit.js';
import { type ClientCredentials, readClientCredentials } from './client-credentials.js';

/** What every kind of authenticated client has. */
type StoredClient = { client_id: string; secret_hash: string };

/** The kinds of client, whose ids are throttled apart (an API client and an application may share an id). */
type ClientKind = 'api_client' | 'application';

/**
 * Checks client credentials against one kind of stored client (API clients or
 * applications). An unknown client id costs the same scrypt work as a wrong secret,
 * so response times do not reveal which ids exist. Every failure counts against the
 * presented client id and the caller's address; while either is throttled, or when the
 * slow-hash queue is full, the answer is the same `invalid_client` at once, unhashed.
 */
export class ClientAuthenticator<T extends StoredClient> {
  private constructor(
    private readonly kind: ClientKind,
    private readonly lookup: (clientId: string) => Promise<T | undefined>,
    private readonly credentials: CredentialCache,
    private readonly guard: AuthGuard,
    private readonly decoyHash: string,
  ) {}

  /** An authenticator of `kind`, with a decoy hash at `scryptLogN` for unknown ids. */
  static async create<T extends StoredClient>(
    kind: ClientKind,
    lookup: (clientId: string) => Promise<T | undefined>,
    credentials: CredentialCache,
    guard: AuthGuard,
    scryptLogN: number,
  ): Promise<ClientAuthenticator<T>> {
    const decoyHash = await hashSecret(randomBytes(16).toString('hex'), scryptLogN);
    return new ClientAuthenticator(kind, lookup, credentials, guard, decoyHash);
  }

  /**
   * The client, when the credentials are valid; `invalid_client` otherwise. `address` is the
   * caller's, for the per-address throttle (absent: only the client id is throttled).
   */
  async authenticate(presented: ClientCredentials, address?: string): Promise<T> {
    const attempt: AuthAttempt = { clientKey: `${this.kind}:${presented.clientId}`, address };
    const throttled = this.guard.admit(attempt) !== null;
    const client = await this.lookup(presented.clientId);
    const hash = client?.secret_hash ?? this.decoyHash;
    if (throttled) {
      // Refused without hashing; only a secret verified within the credential cache's TTL
      // still gets in, so wrong secrets sent under a client's id cannot lock it out while it is in use.
      if (client && this.credentials.cached(presented.clientId, presented.clientSecret, hash)) return client;
      throw new RegistrarError('invalid_client');
    }
    // The common case: a secret verified within the cache's TTL, checked synchronously,
    // with none of the slow path's bookkeeping.
    if (client && this.credentials.cached(presented.clientId, presented.clientSecret, hash)) return client;
    let ok: boolean;
    try {
      ok = await this.guard.check(attempt, presented.clientSecret, hash, () =>
        this.credentials.verify(presented.clientId, presented.clientSecret, hash),
      );
    } catch (error) {
      if (error instanceof AuthRefusedError) throw new RegistrarError('invalid_client');
      throw error;
    }
    if (!client || !ok) {
      this.guard.failed(attempt, client ? 'wrong_secret' : 'unknown_client');
      throw new RegistrarError('invalid_client');
    }
    return client;
  }

  /**
   * Authenticates the caller of `request` (Basic, or the `form`'s client_id and
   * client_secret when the endpoint takes forms) and notes the client in its audit record.
   */
  async authenticateRequest(request: FastifyRequest, form?: URLSearchParams): Promise<T> {
    const client = await this.authenticate(
      readClientCredentials(request.headers.authorization, form),
      request.ip,
    );
    noteAudit(request, { clientId: client.client_id });
    return client;
  }
}

export type ApiClientAuthenticator = ClientAuthenticator<ApiClientRecord>;
export type ApplicationAuthenticator = ClientAuthenticator<ApplicationRecord>;

/**
 * Authenticators for API clients and for applications, each with its own credential cache
 * (made by `makeCache` around the slow verification it is given), sharing `guard`.
 */
export async function createAuthenticators(
  store: ConfigStore,
  makeCache: (slowVerify: (secret: string, hash: string) => Promise<boolean>) => CredentialCache,
  guard: AuthGuard,
  scryptLogN: number,
): Promise<{ apiClients: ApiClientAuthenticator; applications: ApplicationAuthenticator }> {
  return {
    apiClients: await ClientAuthenticator.create(
      'api_client',
      (id) => store.getApiClient(id),
      makeCache(guard.slowVerify),
      guard,
      scryptLogN,
    ),
    applications: await ClientAuthenticator.create(
      'application',
      (id) => store.getApplication(id),
      makeCache(guard.slowVerify),
      guard,
      scryptLogN,
    ),
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
