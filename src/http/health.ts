import type { FastifyInstance } from 'fastify';
import type { ScriptEngine } from '../engine/engine.js';
import type { Storage } from '../storage/open.js';
import { sendJson } from './errors.js';

/** `GET /healthz` (the process is alive) and `GET /readyz` (storage, cache and sandbox can serve). */
export async function healthRoutes(app: FastifyInstance, deps: { storage: Storage; engine: ScriptEngine }) {
  app.get('/healthz', async (_request, reply) => sendJson(reply, '{"status":"ok"}'));
  app.get('/readyz', async (_request, reply) => {
    const checks = {
      storage: await settle(deps.storage.config.ping()),
      cache: await settle(deps.storage.cache.ping()),
      sandbox: deps.engine.healthy ? 'ok' : 'unavailable',
    };
    const ready = Object.values(checks).every((state) => state === 'ok');
    return sendJson(reply, { status: ready ? 'ok' : 'unavailable', checks }, ready ? 200 : 503);
  });
}

async function settle(check: Promise<void>): Promise<'ok' | 'unavailable'> {
  try {
    await check;
    return 'ok';
  } catch {
    return 'unavailable';
  }
}
