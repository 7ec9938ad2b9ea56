import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY_FILE = 'secret.key';

/** Parses `REGISTRAR_SECRET_KEY`: 32 bytes as base64 (44 chars) or hex (64 chars). */
export function parseSecretKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new Error('REGISTRAR_SECRET_KEY must be 32 bytes, as base64 or 64 hex characters');
  }
  return key;
}

/** Why a node on shared storage refuses to start without `REGISTRAR_SECRET_KEY`. */
export const SHARED_STORAGE_NEEDS_KEY =
  'REGISTRAR_SECRET_KEY must be set when storage is shared (PostgreSQL): every node needs the same key to read what the others encrypted';

/**
 * The key that encrypts sensitive values at rest: `REGISTRAR_SECRET_KEY` when set,
 * else `<dataDir>/secret.key`, generated (mode 0600) on first start with a warning.
 * With `sharedStorage` (PostgreSQL, many nodes) a node-local key would differ from the
 * other nodes' keys, so the variable is required.
 */
export function loadSecretKey(
  envValue: string | undefined,
  dataDir: string,
  warn: (message: string) => void,
  sharedStorage = false,
): Buffer {
  if (envValue) return parseSecretKey(envValue);
  if (sharedStorage) throw new Error(SHARED_STORAGE_NEEDS_KEY);
  const path = join(dataDir, KEY_FILE);
  try {
    return parseSecretKey(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  warn(
    `REGISTRAR_SECRET_KEY is not set: generated a key into ${path}. Back it up, or set REGISTRAR_SECRET_KEY; without it sensitive properties cannot be decrypted.`,
  );
  return key;
}
