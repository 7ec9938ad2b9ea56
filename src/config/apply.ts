import type { Logger } from '../logging.js';
import { seal, unseal } from '../security/sealed-box.js';
import { hashCost, hashSecret, verifySecret } from '../security/secret-hash.js';
import type { ConfigStore } from '../storage/types.js';
import type { RegistrarConfig } from './load.js';
import { type ConfigGate, finishConfigGate, gateConfigScripts } from './script-gate.js';

/** Associated data binding a sealed property value to its id. */
export const propertyAad = (id: string) => `property:${id}`;

/**
 * Upserts the config file's properties, clients, IdPs (creating script versions when a
 * source changed) and their test cases into storage. Secrets are stored only as scrypt
 * hashes (an existing hash is kept when it still matches and has the configured cost);
 * sensitive property values are sealed with the secret key. With a `gate`, changed
 * scripts run their test cases first (see {@link gateConfigScripts}): a failure refuses
 * the start (a ConfigError) before any IdP is written. Properties come first, so the
 * tests see the file's values.
 */
export async function applyConfig(
  config: RegistrarConfig,
  store: ConfigStore,
  secretKey: Buffer,
  logger: Logger,
  gate?: ConfigGate,
): Promise<void> {
  const logN = config.server.scrypt_log_n;
  for (const property of config.properties) {
    await store.upsertProperty({
      id: property.id,
      sensitive: property.sensitive,
      value: property.sensitive ? seal(secretKey, property.value, propertyAad(property.id)) : property.value,
    });
  }
  for (const client of config.api_clients) {
    const existing = await store.getApiClient(client.client_id);
    await store.upsertApiClient({
      client_id: client.client_id,
      name: client.name ?? null,
      secret_hash: await secretHash(client.client_secret, existing?.secret_hash, logN),
      scopes: client.scopes,
    });
  }
  for (const { client_secret, name, ...application } of config.applications) {
    const existing = await store.getApplication(application.client_id);
    await store.upsertApplication({
      ...application,
      name: name ?? null,
      secret_hash: await secretHash(client_secret, existing?.secret_hash, logN),
    });
  }
  const forced = gate ? await gateConfigScripts(config, store, gate, logger) : [];
  for (const idp of config.identity_providers) {
    await store.upsertIdentityProvider(
      {
        id: idp.id,
        name: idp.name ?? null,
        flow: idp.flow,
        enabled: idp.enabled,
        limits: idp.limits ?? {},
        ...(idp.http ? { http: idp.http } : {}),
        ...(idp.rate_limits?.length ? { rate_limits: idp.rate_limits } : {}),
        ...(idp.record ? { record: idp.record } : {}),
      },
      idp.scripts,
    );
  }
  if (gate) await finishConfigGate(config, store, gate, forced);
  logger.info(
    {
      api_clients: config.api_clients.length,
      applications: config.applications.length,
      identity_providers: config.identity_providers.length,
      properties: config.properties.length,
    },
    'configuration applied',
  );
}

/**
 * The hash to store for a configured secret: the existing one when it still verifies
 * and has the configured cost (so restarts do not re-hash), else a fresh one.
 */
async function secretHash(secret: string, existing: string | undefined, logN: number): Promise<string> {
  if (existing !== undefined && hashCost(existing) === logN && (await verifySecret(secret, existing))) {
    return existing;
  }
  return hashSecret(secret, logN);
}

/** Property values in clear text, for the sandbox (never for logs or responses). */
export interface PropertySnapshot {
  values: Record<string, string>;
  /** The clear-text values of sensitive properties, so logs can mask them. */
  sensitive: string[];
}

/** Reads and decrypts all properties. */
export async function readProperties(store: ConfigStore, secretKey: Buffer): Promise<PropertySnapshot> {
  const snapshot: PropertySnapshot = { values: {}, sensitive: [] };
  for (const property of await store.listProperties()) {
    if (property.sensitive) {
      const value = unseal(secretKey, property.value, propertyAad(property.id));
      snapshot.values[property.id] = value;
      snapshot.sensitive.push(value);
    } else {
      snapshot.values[property.id] = property.value;
    }
  }
  return snapshot;
}
