import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimHoldMs } from '../src/registration/transaction-claim.js';
import { basic, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const MOBILE = { client_id: 'mobile', client_secret: 'mobile-secret' } as const;

/**
 * A loopback upstream whose `/gate` holds every request until the test opens it: the test
 * then knows a complete script is running, and for how long.
 */
async function startGate() {
  const waiting: ServerResponse[] = [];
  let arrived: () => void = () => {};
  let arrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const server = createServer((_req, res) => {
    waiting.push(res);
    arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    /** Resolves when a script's request has reached the gate. */
    reached: () => arrival,
    open() {
      for (const res of waiting.splice(0)) res.end('{}');
      arrival = new Promise<void>((resolve) => {
        arrived = resolve;
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const INIT = 'function execute(data) { return { status: 2000, registrationData: "rd:" + data }; }';
/** The complete script's outcome is chosen by `data`; `gated-*` waits at the gate first. */
const completeScript = (gate: string) => `function execute(data, userIdentifier, registrationData) {
  if (data.indexOf('gated-') === 0) { HTTP.request({ url: '${gate}/gate' }); data = data.slice(6); }
  if (data === 'retry') return { status: 4001, responsePayload: 'try again' };
  if (data === 'fail') return { status: 5001, responsePayload: 'start over' };
  if (data === 'throw') throw new Error('upstream down');
  return { status: 2000, responsePayload: registrationData, user: { id: 'user-' + registrationData } };
}`;

/** two_step complete: a retryable outcome keeps the transaction; a claim makes concurrent completes safe. */
describe('two_step complete: retryable statuses and claimed transactions', () => {
  let r: TestRegistrar;
  let gate: Awaited<ReturnType<typeof startGate>>;

  before(async () => {
    gate = await startGate();
    r = await startRegistrar({
      identity_providers: [
        idp('two', { init: INIT, complete: completeScript(gate.origin) }, { http: { allow: [gate.origin] } }),
      ],
      applications: [{ ...MOBILE, identity_providers: ['two'], scopes: ['read'], default_scopes: ['read'] }],
    });
  });
  after(async () => {
    gate.open();
    await r.close();
    await gate.close();
  });

  const post = (path: string, body: unknown) =>
    r.app.inject({
      method: 'POST',
      url: `/oauth/custom-registration/two/${path}`,
      headers: {
        authorization: basic(MOBILE.client_id, MOBILE.client_secret),
        'content-type': 'application/json',
      },
      payload: JSON.stringify(body),
    });
  const init = async (data: string) => {
    const res = await post('init', { data });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().transaction_id as string;
  };
  const complete = (transaction_id: string, data: string) => post('complete', { transaction_id, data });
  const expectInvalidTransaction = (res: Awaited<ReturnType<typeof post>>) => {
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'invalid_transaction');
  };
  /** A successful complete: tokens for the transaction's registration data. */
  const expectTokens = (res: Awaited<ReturnType<typeof post>>, data: string) => {
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 2000, res.body);
    assert.equal(res.json().data, `rd:${data}`);
    assert.equal(typeof res.json().oauth_token?.access_token, 'string');
  };

  test('a 4xxx status keeps the transaction: the user retries it and succeeds, once', async () => {
    const id = await init('a');
    const first = await complete(id, 'retry');
    assert.deepEqual(first.json(), { status: 4001, data: 'try again' });
    const again = await complete(id, 'retry');
    assert.deepEqual(again.json(), { status: 4001, data: 'try again' }, 'as often as the script says');
    expectTokens(await complete(id, 'ok'), 'a');
    expectInvalidTransaction(await complete(id, 'ok'));
  });

  test('an engine failure keeps the transaction too', async () => {
    const id = await init('b');
    const failed = await complete(id, 'throw');
    assert.equal(failed.statusCode, 500, failed.body);
    expectTokens(await complete(id, 'ok'), 'b');
  });

  test('a 5xxx status consumes the transaction: start over', async () => {
    const id = await init('c');
    assert.deepEqual((await complete(id, 'fail')).json(), { status: 5001, data: 'start over' });
    expectInvalidTransaction(await complete(id, 'ok'));
  });

  test('while a complete runs, its transaction is claimed: others get invalid_transaction; a 4xxx then releases it', async () => {
    const id = await init('d');
    const running = complete(id, 'gated-retry');
    await gate.reached();
    expectInvalidTransaction(await complete(id, 'ok'));
    gate.open();
    assert.deepEqual((await running).json(), { status: 4001, data: 'try again' });
    expectTokens(await complete(id, 'ok'), 'd');
  });

  test('of concurrent completes of one transaction at most one succeeds', async () => {
    const id = await init('e');
    const running = complete(id, 'gated-ok');
    await gate.reached();
    const others = await Promise.all(Array.from({ length: 5 }, () => complete(id, 'ok')));
    for (const res of others) expectInvalidTransaction(res);
    gate.open();
    expectTokens(await running, 'e');
    expectInvalidTransaction(await complete(id, 'ok'));
  });

  test('a claim left by a node that died lapses: the transaction is usable again afterwards', async () => {
    const id = await init('f');
    const orphan = await r.deps.storage.transactions.claim(id, 300);
    assert.ok(orphan, 'claimed as a dying node would have');
    expectInvalidTransaction(await complete(id, 'ok'));
    await sleep(400);
    expectTokens(await complete(id, 'ok'), 'f');
  });

  test('a claim is held as long as the engine may take to answer and no longer', () => {
    const engine = { ...r.config.engine, wall_time_ms: 2000, kill_grace_ms: 250 };
    const hold = claimHoldMs(engine, { limits: {} });
    assert.ok(hold >= 2000 * 2 + 250, `hold ${hold} ms covers a queue wait and a run`);
    assert.ok(hold <= 2000 * 2 + 250 + 1000, `hold ${hold} ms ends soon after`);
    assert.equal(
      claimHoldMs(engine, { limits: { wall_time_ms: 100 } }),
      100 * 2 + 250 + 1000,
      'the IdP’s own limit',
    );
  });
});
