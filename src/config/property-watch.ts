import type { ScriptEngine } from '../engine/engine.js';
import type { Logger } from '../logging.js';
import type { ConfigStore, PropertyRecord } from '../storage/types.js';
import { readProperties } from './apply.js';

/**
 * Keeps the sandbox's property values in step with storage when another process (a
 * second node, the CLI) changes them: every `intervalMs` the stored records are
 * compared with the last ones seen, and only a change is decrypted and sent to the
 * sandbox processes. (Changes through this node's admin API are applied at once.)
 * Returns a function that stops watching.
 */
export function watchProperties(
  store: ConfigStore,
  engine: ScriptEngine,
  secretKey: Buffer,
  logger: Logger,
  intervalMs: number,
): () => void {
  let seen: string | undefined;
  let busy = false;
  const fingerprint = (records: PropertyRecord[]) => JSON.stringify(records);
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = fingerprint(await store.listProperties());
      if (seen !== undefined && now !== seen) {
        engine.setProperties(await readProperties(store, secretKey));
        logger.info('properties changed in storage: scripts get the new values');
      }
      seen = now;
    } catch (err) {
      logger.warn({ err }, 'checking properties for changes failed');
    } finally {
      busy = false;
    }
  };
  void check();
  const timer = setInterval(check, intervalMs).unref();
  return () => clearInterval(timer);
}
