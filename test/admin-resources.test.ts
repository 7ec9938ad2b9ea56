import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backchannel, basic, idp, PORTAL, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const ADMIN = { client_id: 'admin', client_secret: 'admin-secret' } as const;
const BASE = '/api/v1/configuration';

/** Reads PROPERTIES.get(data) and returns it as the payload. */
const PROPERTY_ECHO =
  'function execute(id) { return { status: 2000, responsePayload: String(PROPERTIES.get(id)) }; }';

describe('admin API: API clients, applications, properties', () => {
  let r: TestRegistrar;
  const call = (
    method: string,
    url: string,
    payload?: unknown,
    authorization = basic(ADMIN.client_id, ADMIN.client_secret),
  ) =>
    r.app.inject({
      method: method as 'GET',
      url: `${BASE}${url}`,
      headers: { authorization },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
  const auditEvents = () =>
    r.logs.lines
      .map((line) => line.audit as Record<string, unknown> | undefined)
      .filter((audit): audit is Record<string, unknown> => audit?.event === 'configuration_change');

  before(async () => {
    r = await startRegistrar({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, name: 'Admin', scopes: ['admin'] },
      ],
      identity_providers: [idp('props', { backchannel: PROPERTY_ECHO })],
      properties: [{ id: 'greeting', value: 'hello' }],
    });
  });
  after(async () => r.close());

  describe('authentication and permissions', () => {
    test('a request without credentials is invalid_client', async () => {
      const res = await r.app.inject({ method: 'GET', url: `${BASE}/api-clients` });
      assert.equal(res.statusCode, 400);
      assert.equal(json(res.body).error, 'invalid_client');
    });

    test('a wrong secret is invalid_client, checked before the body is read', async () => {
      const res = await call('POST', '/api-clients', '{not json', basic(ADMIN.client_id, 'wrong'));
      assert.equal(res.statusCode, 400);
      assert.equal(json(res.body).error, 'invalid_client');
    });

    test('a client without scope admin gets insufficient_permissions on every resource', async () => {
      for (const resource of ['api-clients', 'applications', 'identity-providers', 'properties']) {
        const res = await call(
          'GET',
          `/${resource}`,
          undefined,
          basic(PORTAL.client_id, PORTAL.client_secret),
        );
        assert.equal(res.statusCode, 403, resource);
        assert.equal(json(res.body).error, 'insufficient_permissions');
        assert.match(String(json(res.body).error_description), /`admin`/);
      }
    });

    test('answers are JSON with no-store and a request id', async () => {
      const res = await call('GET', '/api-clients');
      assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.ok(res.headers['x-request-id'], 'a request id');
    });

    test('a body of another media type is invalid_request', async () => {
      const res = await r.app.inject({
        method: 'POST',
        url: `${BASE}/api-clients`,
        headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret), 'content-type': 'text/plain' },
        payload: 'client_id=x',
      });
      assert.equal(res.statusCode, 400);
      assert.equal(json(res.body).error, 'invalid_request');
    });
  });

  describe('API clients', () => {
    test('a created client answers 201 with Location and no secret, and can call the backchannel at once', async () => {
      const res = await call('POST', '/api-clients', {
        client_id: 'crm',
        client_secret: 'crm-secret-1',
        name: 'CRM',
        scopes: ['user_registration'],
      });
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers.location, `${BASE}/api-clients/crm`);
      assert.deepEqual(json(res.body), { client_id: 'crm', name: 'CRM', scopes: ['user_registration'] });
      const bc = await backchannel(r.app, 'props', 'greeting', {
        authorization: basic('crm', 'crm-secret-1'),
      });
      assert.equal(bc.statusCode, 200);
    });

    test('secrets are write-only: no read, list or change answer carries the secret or its hash', async () => {
      const bodies = [
        (await call('GET', '/api-clients/crm')).body,
        (await call('GET', '/api-clients')).body,
        (await call('PATCH', '/api-clients/crm', { name: 'CRM 2' })).body,
      ];
      for (const body of bodies) {
        assert.ok(!body.includes('crm-secret-1'), body);
        assert.ok(!/secret|scrypt/.test(body), `no secret field or hash in ${body}`);
      }
      assert.ok(!r.logs.text().includes('crm-secret-1'), 'the secret is never logged');
    });

    test('creating an existing client id is a conflict and changes nothing', async () => {
      const res = await call('POST', '/api-clients', { client_id: 'crm', client_secret: 'other' });
      assert.equal(res.statusCode, 409);
      assert.equal(json(res.body).error, 'conflict');
      const bc = await backchannel(r.app, 'props', 'greeting', {
        authorization: basic('crm', 'crm-secret-1'),
      });
      assert.equal(bc.statusCode, 200, 'the old secret still works');
    });

    test('invalid fields are invalid_request with details naming each field', async () => {
      const res = await call('POST', '/api-clients', { client_id: '', scopes: ['admin', 'root'], extra: 1 });
      assert.equal(res.statusCode, 400);
      const body = json(res.body);
      assert.equal(body.error, 'invalid_request');
      const fields = (body.details as Array<{ field: string }>).map((d) => d.field).sort();
      assert.deepEqual(fields, ['client_id', 'client_secret', 'extra', 'scopes[1]']);
    });

    test('a new secret (PUT) revokes the old one immediately, although it was just verified and cached', async () => {
      const creds = basic('crm', 'crm-secret-1');
      assert.equal((await backchannel(r.app, 'props', 'greeting', { authorization: creds })).statusCode, 200);
      const res = await call('PUT', '/api-clients/crm', {
        client_secret: 'crm-secret-2',
        scopes: ['user_registration'],
      });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(json(res.body), { client_id: 'crm', name: null, scopes: ['user_registration'] });
      const old = await backchannel(r.app, 'props', 'greeting', { authorization: creds });
      assert.equal(old.statusCode, 400);
      assert.equal(json(old.body).error, 'invalid_client');
      const fresh = await backchannel(r.app, 'props', 'greeting', {
        authorization: basic('crm', 'crm-secret-2'),
      });
      assert.equal(fresh.statusCode, 200);
    });

    test('PUT without a secret keeps it; removing a scope takes effect on the next request', async () => {
      const res = await call('PUT', '/api-clients/crm', { name: 'CRM', scopes: [] });
      assert.equal(res.statusCode, 200);
      const bc = await backchannel(r.app, 'props', 'greeting', {
        authorization: basic('crm', 'crm-secret-2'),
      });
      assert.equal(bc.statusCode, 403, 'authenticated with the kept secret, but no longer permitted');
      assert.equal(json(bc.body).error, 'insufficient_permissions');
    });

    test('PUT with a different client_id in the body is invalid_request', async () => {
      const res = await call('PUT', '/api-clients/crm', { client_id: 'other', scopes: [] });
      assert.equal(res.statusCode, 400);
      assert.equal((json(res.body).details as Array<{ field: string }>)[0]?.field, 'client_id');
    });

    test('a deleted client is refused on its very next request, and reads as not_found', async () => {
      await call('PATCH', '/api-clients/crm', { scopes: ['user_registration'] });
      const creds = basic('crm', 'crm-secret-2');
      assert.equal((await backchannel(r.app, 'props', 'greeting', { authorization: creds })).statusCode, 200);
      const res = await call('DELETE', '/api-clients/crm');
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      const bc = await backchannel(r.app, 'props', 'greeting', { authorization: creds });
      assert.equal(bc.statusCode, 400);
      assert.equal(json(bc.body).error, 'invalid_client');
      const read = await call('GET', '/api-clients/crm');
      assert.equal(read.statusCode, 404);
      assert.equal(json(read.body).error, 'not_found');
      assert.equal((await call('DELETE', '/api-clients/crm')).statusCode, 404);
    });

    test('lists are paged in id order with a cursor', async () => {
      for (const id of ['p1', 'p2', 'p3']) {
        await call('POST', '/api-clients', { client_id: id, client_secret: `${id}-secret` });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await call('GET', `/api-clients?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.statusCode, 200);
        const page = json(res.body) as { items: Array<{ client_id: string }>; next_cursor: string | null };
        assert.ok(page.items.length <= 2, 'at most limit items');
        seen.push(...page.items.map((c) => c.client_id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.deepEqual(seen, ['admin', 'p1', 'p2', 'p3', 'portal']);
    });

    test('a bad page size is invalid_request naming the query field', async () => {
      const res = await call('GET', '/api-clients?limit=0');
      assert.equal(res.statusCode, 400);
      assert.equal((json(res.body).details as Array<{ field: string }>)[0]?.field, 'limit');
    });
  });

  describe('applications', () => {
    test('an application is created, read without its secret, and refuses unknown IdPs and stray default scopes', async () => {
      const bad = await call('POST', '/applications', {
        client_id: 'app',
        client_secret: 'app-secret',
        identity_providers: ['props', 'nope'],
        scopes: ['openid'],
        default_scopes: ['profile'],
      });
      assert.equal(bad.statusCode, 400);
      const fields = (json(bad.body).details as Array<{ field: string }>).map((d) => d.field);
      assert.deepEqual(fields, ['identity_providers[1]', 'default_scopes[0]']);
      assert.equal((await call('GET', '/applications/app')).statusCode, 404, 'nothing was created');

      const res = await call('POST', '/applications', {
        client_id: 'app',
        client_secret: 'app-secret',
        identity_providers: ['props'],
        scopes: ['openid'],
      });
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers.location, `${BASE}/applications/app`);
      assert.deepEqual(json(res.body), {
        client_id: 'app',
        name: null,
        identity_providers: ['props'],
        scopes: ['openid'],
        default_scopes: [],
        access_token_ttl_seconds: 3600,
        refresh_tokens: false,
      });
      assert.ok(!(await call('GET', '/applications')).body.includes('secret'), 'no secret in the list');
    });

    test('a PATCH changes only the fields given', async () => {
      const res = await call('PATCH', '/applications/app', {
        refresh_tokens: true,
        access_token_ttl_seconds: 600,
      });
      assert.equal(res.statusCode, 200);
      const body = json(res.body);
      assert.equal(body.refresh_tokens, true);
      assert.equal(body.access_token_ttl_seconds, 600);
      assert.deepEqual(body.identity_providers, ['props']);
    });

    test('an IdP an application uses cannot be deleted (conflict) until the application lets go of it', async () => {
      const refused = await call('DELETE', '/identity-providers/props');
      assert.equal(refused.statusCode, 409);
      assert.match(String(json(refused.body).error_description), /app/);
      assert.equal((await call('GET', '/identity-providers/props')).statusCode, 200);
    });

    test('a deleted application’s credentials stop working at once', async () => {
      const init = () =>
        r.app.inject({
          method: 'POST',
          url: '/oauth/custom-registration/props/complete',
          headers: { authorization: basic('app', 'app-secret'), 'content-type': 'application/json' },
          payload: {},
        });
      assert.notEqual(json((await init()).body).error, 'invalid_client');
      assert.equal((await call('DELETE', '/applications/app')).statusCode, 204);
      const res = await init();
      assert.equal(res.statusCode, 400);
      assert.equal(json(res.body).error, 'invalid_client');
    });
  });

  describe('properties', () => {
    test('a sensitive property reads as ******** everywhere, and scripts get the real value', async () => {
      const res = await call('POST', '/properties', { id: 'api_key', value: 'k3y-v4lue', sensitive: true });
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers.location, `${BASE}/properties/api_key`);
      assert.deepEqual(json(res.body), { id: 'api_key', value: '********', sensitive: true });
      assert.deepEqual(json((await call('GET', '/properties/api_key')).body).value, '********');
      assert.ok(!(await call('GET', '/properties')).body.includes('k3y-v4lue'), 'masked in the list');
      const bc = await backchannel(r.app, 'props', 'api_key');
      assert.equal(json(bc.body).data, 'k3y-v4lue');
    });

    test('a sensitive value is sealed at rest and never logged, audit events included', async () => {
      const stored = await r.deps.storage.config.getProperty('api_key');
      assert.ok(stored && !stored.value.includes('k3y-v4lue'), 'stored sealed');
      assert.ok(!r.logs.text().includes('k3y-v4lue'), 'not in any log line');
      const created = auditEvents().find((a) => a.resource === 'property' && a.id === 'api_key');
      assert.deepEqual(created?.after, { id: 'api_key', value: '********', sensitive: true });
      assert.equal(created?.client_id, 'admin');
      assert.equal(created?.action, 'create');
    });

    test('a changed value reaches scripts on the next request, without restart', async () => {
      assert.equal(json((await backchannel(r.app, 'props', 'greeting')).body).data, 'hello');
      const res = await call('PUT', '/properties/greeting', { value: 'bonjour' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(json(res.body), { id: 'greeting', value: 'bonjour', sensitive: false });
      assert.equal(json((await backchannel(r.app, 'props', 'greeting')).body).data, 'bonjour');
    });

    test('PATCH sensitive:true seals the current value; the script still reads it', async () => {
      const res = await call('PATCH', '/properties/greeting', { sensitive: true });
      assert.deepEqual(json(res.body), { id: 'greeting', value: '********', sensitive: true });
      assert.equal(json((await backchannel(r.app, 'props', 'greeting')).body).data, 'bonjour');
    });

    test('a deleted property reads as null in scripts and not_found in the API', async () => {
      assert.equal((await call('DELETE', '/properties/greeting')).statusCode, 204);
      assert.equal(json((await backchannel(r.app, 'props', 'greeting')).body).data, 'null');
      assert.equal((await call('GET', '/properties/greeting')).statusCode, 404);
    });

    test('a bad property id or a missing value is invalid_request with details', async () => {
      const res = await call('POST', '/properties', { id: 'bad id!' });
      assert.equal(res.statusCode, 400);
      const fields = (json(res.body).details as Array<{ field: string }>).map((d) => d.field).sort();
      assert.deepEqual(fields, ['id', 'value']);
    });
  });

  describe('audit', () => {
    test('every change is one configuration_change event with who, what, when, before and after — never a secret', () => {
      const events = auditEvents();
      const actions = events.map((e) => `${e.resource}:${e.action}:${e.id}`);
      for (const expected of [
        'api_client:create:crm',
        'api_client:replace:crm',
        'api_client:update:crm',
        'api_client:delete:crm',
        'application:create:app',
        'application:delete:app',
        'property:replace:greeting',
        'property:delete:greeting',
      ]) {
        assert.ok(actions.includes(expected), `${expected} in ${actions.join(', ')}`);
      }
      for (const event of events) {
        assert.equal(event.client_id, 'admin');
        assert.ok(!Number.isNaN(Date.parse(String(event.at))), 'an ISO time');
        assert.ok('before' in event && 'after' in event, 'before and after');
      }
      const replaced = events.find((e) => e.action === 'replace' && e.id === 'crm');
      assert.equal((replaced?.after as { secret_changed?: boolean } | undefined)?.secret_changed, true);
      const text = JSON.stringify(events);
      for (const secret of ['crm-secret-1', 'crm-secret-2', 'app-secret', 'scrypt$']) {
        assert.ok(!text.includes(secret), `${secret} is not in the audit events`);
      }
    });

    test('every logged event is also stored, with the same fields, listed newest first at /api/v1/audit-events', async () => {
      const logged = auditEvents().map(({ event: _event, id, ...rest }) => ({ ...rest, resource_id: id }));
      const stored: Array<Record<string, unknown>> = [];
      let cursor: unknown = null;
      do {
        const res = await r.app.inject({
          method: 'GET',
          url: `/api/v1/audit-events?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
          headers: { authorization: basic(ADMIN.client_id, ADMIN.client_secret) },
        });
        assert.equal(res.statusCode, 200, res.body);
        stored.push(...(json(res.body).items as Array<Record<string, unknown>>));
        cursor = json(res.body).next_cursor;
      } while (cursor);
      const ids = stored.map((e) => Number(e.id));
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
        'newest first',
      );
      assert.deepEqual(
        stored.map(({ id: _id, ...rest }) => rest).reverse(),
        logged,
        'the same events, in the same order',
      );
      const text = JSON.stringify(stored);
      for (const secret of ['crm-secret-1', 'crm-secret-2', 'app-secret', 'scrypt$', 'k3y-v4lue']) {
        assert.ok(!text.includes(secret), `${secret} is not stored`);
      }
    });
  });
});
