/** `registrar client create` and `registrar client rotate-secret`: API clients, straight in storage. */
import { randomBytes } from 'node:crypto';
import { identifierProblem } from '../config/identifiers.js';
import type { RegistrarConfig } from '../config/load.js';
import { API_SCOPES, type ApiScope } from '../config/schema.js';
import { hashSecret } from '../security/secret-hash.js';
import { openStorage } from '../storage/open.js';
import type { ConfigStore } from '../storage/types.js';
import { loadConfigFromEnv } from './environment.js';
import { onePositional, parseCommandArgs, UsageError } from './usage.js';

/** A new client secret: 32 random bytes, base64url (43 characters). */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Opens the storage the server would use (config file and environment as for
 * `serve`; the schema is migrated), without applying the config file or starting
 * sandboxes, and runs `work` on it.
 */
async function withConfigStore<T>(
  work: (store: ConfigStore, config: RegistrarConfig) => Promise<T>,
): Promise<T> {
  const { config } = loadConfigFromEnv();
  const storage = await openStorage(config);
  try {
    return await work(storage.config, config);
  } finally {
    await storage.close();
  }
}

/** Prints the credentials once: stdout only has them, the advice goes to stderr. */
function printCredentials(clientId: string, secret: string): void {
  process.stdout.write(`client_id=${clientId}\nclient_secret=${secret}\n`);
  process.stderr.write('The secret is shown only this once and is stored only as a hash: keep it now.\n');
}

/** A client the config file defines gets the file's secret back at the next server start. */
function warnIfConfigured(config: RegistrarConfig, clientId: string): void {
  if (config.api_clients.some((client) => client.client_id === clientId)) {
    process.stderr.write(
      `warning: the config file defines API client ${clientId}; the next server start resets its secret to the file's.\n`,
    );
  }
}

/** A new client's id: the same rule as in the config file and the admin API (`identifierProblem`). */
function checkNewClientId(clientId: string, command: string): void {
  const problem = identifierProblem(clientId);
  if (problem !== null) throw new UsageError(`${command}: CLIENT_ID ${problem}`);
}

/** An existing client's id: only bounded, so clients stored under older rules stay reachable. */
function checkClientId(clientId: string, command: string): void {
  if (clientId.length > 255) throw new UsageError(`${command}: CLIENT_ID is longer than 255 characters`);
}

/**
 * `client create CLIENT_ID [--scope S]... [--name NAME]`: stores a new API client with
 * a random secret (only its scrypt hash is stored, at the configured cost) and prints
 * the secret. Returns 1 when the id exists.
 */
export async function clientCreate(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    scope: { type: 'string', multiple: true },
    name: { type: 'string' },
  });
  const clientId = onePositional(positionals, 'CLIENT_ID', 'client create');
  checkNewClientId(clientId, 'client create');
  const scopes = values.scope ?? [];
  for (const scope of scopes) {
    if (!(API_SCOPES as readonly string[]).includes(scope)) {
      throw new UsageError(`--scope: unknown scope ${scope} (valid: ${API_SCOPES.join(', ')})`);
    }
  }
  if (values.name !== undefined && values.name.length > 255) {
    throw new UsageError('--name: longer than 255 characters');
  }
  return withConfigStore(async (store, config) => {
    const secret = newSecret();
    const created = await store.createApiClient({
      client_id: clientId,
      name: values.name ?? null,
      secret_hash: await hashSecret(secret, config.server.scrypt_log_n),
      scopes: [...new Set(scopes)] as ApiScope[],
    });
    if (!created) {
      process.stderr.write(
        `client create: API client ${clientId} exists already (use client rotate-secret for a new secret)\n`,
      );
      return 1;
    }
    warnIfConfigured(config, clientId);
    printCredentials(clientId, secret);
    return 0;
  });
}

/**
 * `client rotate-secret CLIENT_ID`: gives an existing API client a new random secret and
 * prints it. A running server on the same storage refuses the old secret from its next
 * request on. Returns 1 when there is no such client.
 */
export async function clientRotateSecret(args: string[]): Promise<number> {
  const { positionals } = parseCommandArgs(args, {});
  const clientId = onePositional(positionals, 'CLIENT_ID', 'client rotate-secret');
  checkClientId(clientId, 'client rotate-secret');
  return withConfigStore(async (store, config) => {
    const existing = await store.getApiClient(clientId);
    if (!existing) {
      process.stderr.write(`client rotate-secret: no API client ${clientId}\n`);
      return 1;
    }
    const secret = newSecret();
    await store.upsertApiClient({
      ...existing,
      secret_hash: await hashSecret(secret, config.server.scrypt_log_n),
    });
    warnIfConfigured(config, clientId);
    printCredentials(clientId, secret);
    return 0;
  });
}
