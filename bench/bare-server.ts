/**
 * The bare baseline: a Fastify process of its own doing the backchannel's non-script work
 * and nothing of Registrar's — Basic authentication against a scrypt hash with a cache of
 * verified credentials, the JSON body and its `data` parsed, a UUID stored in a `Map`
 * (bounded, oldest dropped), the answer as JSON. No logging, no request ids, no config
 * store. `npm run bench` measures Registrar's routes as ratios of this one.
 * Writes `{"port": N, "pid": N}` on fd 3 when listening.
 */
import { createHash, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto';
import { writeSync } from 'node:fs';
import Fastify from 'fastify';
import { BENCH_CLIENT } from './fixtures.js';

const SALT = Buffer.from('bare-baseline-salt');
const HASH = scryptSync(BENCH_CLIENT.client_secret, SALT, 32);
/** Verified credentials by client id: the sha256 of the secret that passed scrypt. */
const verified = new Map<string, Buffer>();
const store = new Map<string, string>();
const MAX_ENTRIES = 100_000;

function authenticate(header: string | undefined): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const id = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  if (id !== BENCH_CLIENT.client_id) return false;
  const digest = createHash('sha256').update(secret).digest();
  const known = verified.get(id);
  if (known && timingSafeEqual(known, digest)) return true;
  if (!timingSafeEqual(scryptSync(secret, SALT, 32), HASH)) return false;
  verified.set(id, digest);
  return true;
}

const app = Fastify({ logger: false });
app.post('/oauth/api/v3/custom-registration/qr/backchannel', async (request, reply) => {
  if (!authenticate(request.headers.authorization)) {
    return reply.code(401).send({ error: 'invalid_client' });
  }
  const data = (request.body as { data?: unknown } | null)?.data;
  if (typeof data !== 'string') return reply.code(400).send({ error: 'invalid_request' });
  const userId = String(JSON.parse(data).userId);
  const identifier = randomUUID();
  store.set(identifier, userId);
  if (store.size > MAX_ENTRIES) store.delete(store.keys().next().value as string);
  return reply.code(200).send({ status: 2000, data: identifier });
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
writeSync(3, `${JSON.stringify({ port: Number(new URL(address).port), pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
