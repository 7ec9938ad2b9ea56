/**
 * CACHE.increment, RATE.take and declarative rate limits on two Registrar instances
 * sharing one SQLite storage file and one SQLite CACHE file (each instance with its own
 * sandbox processes, as two nodes on one host would run).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { countersAcrossNodes, countersConfig } from './helpers/counters-suite.js';
import { startRegistrar } from './helpers/registrar.js';

const shared = mkdtempSync(join(tmpdir(), 'registrar-counters-'));
after(() => rmSync(shared, { recursive: true, force: true }));

countersAcrossNodes('SQLite files', async () => {
  const raw = {
    ...countersConfig(),
    storage: { url: `sqlite:${join(shared, 'registrar.db')}` },
    cache: { url: `sqlite:${join(shared, 'cache.db')}` },
  };
  const secretKey = randomBytes(32);
  const a = await startRegistrar(raw, { secretKey });
  const b = await startRegistrar(raw, { secretKey });
  return [a, b];
});
