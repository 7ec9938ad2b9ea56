import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScriptEngine } from '../engine/engine.js';
import type { Storage } from '../storage/open.js';
import { sendJson } from './errors.js';
import type { RouteDoc } from './route-doc.js';

const state = z.enum(['ok', 'unavailable']);
const readiness = z.object({
  status: state,
  checks: z.object({ storage: state, cache: state, sandbox: state }),
});

const HEALTHZ_DOC: RouteDoc = {
  summary: 'Liveness',
  description: 'Answers as long as the process serves HTTP; it checks nothing else.',
  tags: ['Operations'],
  auth: 'none',
  responses: { 200: { description: 'The process is alive.', schema: z.object({ status: z.literal('ok') }) } },
};

const READYZ_DOC: RouteDoc = {
  summary: 'Readiness',
  description:
    "Checks the configuration storage, the scripts' CACHE store and the sandbox processes; `status` is `ok` only when all three are.",
  tags: ['Operations'],
  auth: 'none',
  responses: {
    200: { description: 'Every check is `ok`.', schema: readiness },
    503: { description: 'At least one check is `unavailable`.', schema: readiness },
  },
};

/** `GET /healthz` (the process is alive) and `GET /readyz` (storage, cache and sandbox can serve). */
export async function healthRoutes(app: FastifyInstance, deps: { storage: Storage; engine: ScriptEngine }) {
  app.get('/healthz', { config: { doc: HEALTHZ_DOC } }, async (_request, reply) =>
    sendJson(reply, '{"status":"ok"}'),
  );
  app.get('/readyz', { config: { doc: READYZ_DOC } }, async (_request, reply) => {
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
