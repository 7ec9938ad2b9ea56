import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const BASE = '/api/v1/configuration';
const PROPERTY_ECHO =
  'function execute(id) { return { status: 2000, responsePayload: String(PROPERTIES.get(id)) }; }';

/** A sensitive value never becomes readable by flipping `sensitive` off: the change needs a new value. */
describe('admin API: making a sensitive property non-sensitive', () => {
  let r: TestRegistrar;
  const call = (method: 'PUT' | 'PATCH' | 'POST' | 'GET', url: string, payload?: object) =>
    r.app.inject({
      method,
      url: `${BASE}${url}`,
      headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
      ...(payload === undefined ? {} : { payload }),
    });
  const propertyEvents = (id: string) =>
    r.logs.lines
      .map((line) => line.audit as Record<string, unknown> | undefined)
      .filter((a): a is Record<string, unknown> => a?.event === 'configuration_change' && a.id === id);
  const createSensitive = async (id: string, value: string) => {
    const res = await call('POST', '/properties', { id, value, sensitive: true });
    assert.equal(res.statusCode, 201, res.body);
  };
  /** Nothing Registrar answered or logged carries `secret`. */
  const neverShown = (secret: string, ...bodies: string[]) => {
    for (const body of bodies) assert.ok(!body.includes(secret), `not in the answer ${body}`);
    assert.ok(!r.logs.text().includes(secret), 'not in any log line, audit events included');
  };

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      identity_providers: [idp('props', { backchannel: PROPERTY_ECHO })],
    });
  });
  after(() => r.close());

  test('PATCH sensitive:false without a value is invalid_request naming value, and changes nothing', async () => {
    await createSensitive('db_password', 'old-s3cret-patch');
    const res = await call('PATCH', '/properties/db_password', { sensitive: false });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'invalid_request');
    assert.deepEqual(
      (res.json().details as Array<{ field: string }>).map((d) => d.field),
      ['value'],
    );
    const read = await call('GET', '/properties/db_password');
    assert.deepEqual(read.json(), { id: 'db_password', value: '********', sensitive: true });
    assert.equal(propertyEvents('db_password').length, 1, 'only the create is audited');
    assert.equal((await backchannel(r.app, 'props', 'db_password')).json().data, 'old-s3cret-patch');
    neverShown('old-s3cret-patch', res.body, read.body);
  });

  test('PATCH sensitive:false with a new value stores it plain; the audit event never carries the old one', async () => {
    await createSensitive('crm_key', 'old-s3cret-crm');
    const res = await call('PATCH', '/properties/crm_key', { sensitive: false, value: 'now-public' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { id: 'crm_key', value: 'now-public', sensitive: false });
    const update = propertyEvents('crm_key').find((a) => a.action === 'update');
    assert.deepEqual(update?.before, { id: 'crm_key', value: '********', sensitive: true });
    assert.deepEqual(update?.after, { id: 'crm_key', value: 'now-public', sensitive: false });
    neverShown('old-s3cret-crm', res.body, (await call('GET', '/properties')).body);
  });

  test('PUT needs a value too, and replacing a sensitive property with a plain one never shows the old value', async () => {
    await createSensitive('api_token', 'old-s3cret-put');
    const missing = await call('PUT', '/properties/api_token', { sensitive: false });
    assert.equal(missing.statusCode, 400, missing.body);
    assert.deepEqual(
      (missing.json().details as Array<{ field: string }>).map((d) => d.field),
      ['value'],
    );
    const res = await call('PUT', '/properties/api_token', { value: 'plain-now' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { id: 'api_token', value: 'plain-now', sensitive: false });
    const replace = propertyEvents('api_token').find((a) => a.action === 'replace');
    assert.deepEqual(replace?.before, { id: 'api_token', value: '********', sensitive: true });
    neverShown('old-s3cret-put', missing.body, res.body);
  });

  test('PATCH of a sensitive property without sensitive:false keeps it sealed', async () => {
    await createSensitive('still_secret', 'old-s3cret-kept');
    const res = await call('PATCH', '/properties/still_secret', {});
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { id: 'still_secret', value: '********', sensitive: true });
    const same = await call('PATCH', '/properties/still_secret', { sensitive: true });
    assert.deepEqual(same.json(), { id: 'still_secret', value: '********', sensitive: true });
    neverShown('old-s3cret-kept', res.body, same.body);
  });
});
