import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The reference product's published QR-registration scripts, byte for byte in
 * test/fixtures/scripts, run unmodified. The complete endpoint arrives with the
 * registration issue; until then the complete script is run through the engine.
 */
describe('published QR-registration scripts run unmodified', () => {
  let r: TestRegistrar;

  before(async () => {
    r = await startRegistrar({
      identity_providers: [
        {
          id: 'QrIdp',
          flow: 'one_step',
          scripts: {
            backchannel: 'scripts/published-qr-backchannel.js',
            complete: 'scripts/published-qr-complete.js',
          },
        },
        {
          id: 'ApiExample',
          scripts: {
            backchannel: 'scripts/published-api-example-backchannel.js',
            complete: 'scripts/published-qr-complete.js',
          },
        },
      ],
    });
  });
  after(() => r.close());

  async function complete(identifier: string) {
    const idp = await r.deps.storage.config.getIdentityProvider('QrIdp');
    assert.ok(idp?.scripts.complete, 'the IdP has a complete script');
    return r.deps.engine.execute({
      idpId: 'QrIdp',
      kind: 'complete',
      script: idp.scripts.complete,
      limits: { cpu_time_ms: 1000, wall_time_ms: 5000, memory_mb: 64 },
      args: [identifier, null, null, null],
      requestId: 'qr-complete',
    });
  }

  test('portal → backchannel stores the user under a fresh UUID → complete reads it once', async () => {
    const res = await backchannel(r.app, 'QrIdp', JSON.stringify({ userId: 'exampleUserId' }));
    assert.equal(res.statusCode, 200, res.body);
    const { status, data } = res.json();
    assert.equal(status, 2000);
    assert.match(data, UUID);
    const logged = r.logs.find((l) => l.msg === 'storing userId: exampleUserId');
    assert.ok(logged, 'the script LOG line reaches the server log');
    assert.equal(logged.idp, 'QrIdp');
    assert.equal(logged.script_kind, 'backchannel');
    assert.equal(logged.reqId, res.headers['x-request-id']);

    const first = await complete(data);
    assert.ok(first.ok, 'the complete script succeeds');
    assert.equal(first.result.status, 2000);
    assert.deepEqual(first.result.user, { id: 'exampleUserId' });

    const replay = await complete(data);
    assert.ok(replay.ok, 'the replayed complete script still runs');
    assert.equal(replay.result.status, 5000, 'the identifier is single use');
  });

  test('every QR code gets its own identifier', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await backchannel(r.app, 'QrIdp', JSON.stringify({ userId: `user-${i}` }));
      ids.add(res.json().data);
    }
    assert.equal(ids.size, 20);
  });

  test('a stale identifier completes with status 5000', async () => {
    const result = await complete('00000000-0000-4000-8000-000000000000');
    assert.ok(result.ok, 'the script runs');
    assert.equal(result.result.status, 5000);
  });

  test('the published custom-api example (which reads requestPayload.userId from a string) runs too', async () => {
    const res = await backchannel(r.app, 'ApiExample', JSON.stringify({ userId: 'u1' }));
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.json().data, /^undefined_\d+$/);
  });
});
