import { createHash } from 'node:crypto';
import type { ScriptKind } from '../config/schema.js';
import type { Canary } from '../storage/types.js';

/**
 * Whether the caller with `key` runs the canary's new version: a hash of (IdP, kind, the
 * version pair, key) mapped onto 0–100 and compared with the canary's percent, so the
 * same key always gets the same version while the canary runs, and about `percent` % of
 * distinct keys get the new one. Without a key (no caller data) the choice is random.
 */
export function takesCanary(
  idpId: string,
  kind: ScriptKind,
  canary: Canary,
  key: string | null,
  random: () => number = Math.random,
): boolean {
  if (key === null) return random() * 100 < canary.percent;
  const digest = createHash('sha256')
    .update(`${idpId}\0${kind}\0${canary.from_version}\0${canary.version.version}\0${key}`)
    .digest();
  return (digest.readUInt32BE(0) / 2 ** 32) * 100 < canary.percent;
}
