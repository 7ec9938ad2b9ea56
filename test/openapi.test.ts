import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { z } from 'zod';
import { renderDocsPage } from '../src/http/docs-page.js';
import { buildOpenApiDocument, type JsonObject, registeredRoutes } from '../src/http/openapi.js';
import type { RouteDoc } from '../src/http/route-doc.js';
import { startRegistrar, type TestRegistrar } from './helpers/registrar.js';

type ApiDocument = Awaited<ReturnType<typeof SwaggerParser.validate>>;
const obj = (value: unknown) => value as JsonObject;

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/**
 * Validates a deep copy (the parser dereferences in place) and fails with the parser's
 * message; for 3.1 it checks the structure only, so path parameters are checked here.
 */
async function assertValidOpenApi(document: JsonObject): Promise<void> {
  await SwaggerParser.validate(structuredClone(document) as unknown as ApiDocument);
  for (const [path, item] of Object.entries(document.paths as Record<string, JsonObject>)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => name).sort();
    for (const [method, op] of Object.entries(item)) {
      const parameters = (obj(op).parameters ?? []) as JsonObject[];
      const inPath = parameters.filter((p) => p.in === 'path' && p.required === true).map((p) => p.name);
      assert.deepEqual(inPath.sort(), names, `${method} ${path} declares each path parameter, required`);
    }
  }
}

const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}');

/** The non-admin routes and their methods, as the document must show them. */
const EXPECTED: Record<string, string> = {
  '/oauth/api/v3/custom-registration/{idp}/backchannel': 'post',
  '/oauth/custom-registration/{idp}/init': 'post',
  '/oauth/custom-registration/{idp}/complete': 'post',
  '/oauth/token': 'post',
  '/oauth/introspect': 'post',
  '/oauth/revoke': 'post',
  '/oauth/jwks': 'get',
  '/healthz': 'get',
  '/readyz': 'get',
  '/openapi.json': 'get',
  '/docs': 'get',
};

/** The OpenAPI document and the /docs page, built from the routes' own docs. */
describe('OpenAPI document and /docs', () => {
  let r: TestRegistrar;
  let document: JsonObject;
  let paths: Record<string, JsonObject>;

  before(async () => {
    r = await startRegistrar();
    const response = await r.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/json;charset=UTF-8');
    document = response.json();
    paths = document.paths as Record<string, JsonObject>;
  });
  after(async () => r.close());

  test('/openapi.json is a valid OpenAPI 3.1 document', async () => {
    assert.equal(document.openapi, '3.1.0');
    assert.deepEqual(
      { title: obj(document.info).title, version: obj(document.info).version },
      { title: 'Registrar', version },
    );
    await assertValidOpenApi(document);
    const text = JSON.stringify(document);
    assert.ok(!text.includes('"$schema"'), 'no embedded schema carries $schema');
    assert.ok(!text.includes('$defs'), 'no embedded schema carries $defs');
  });

  test('it is built once and cached', async () => {
    const again = await r.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.deepEqual(again.json(), document);
  });

  test('every registration, token and operations route is there with its method', () => {
    for (const [path, method] of Object.entries(EXPECTED)) {
      assert.ok(paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
    }
    const ids = Object.values(paths).flatMap((item) => Object.values(item).map((op) => obj(op).operationId));
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  test('the backchannel: path parameter, both body media types, errors and security', () => {
    const op = obj(paths['/oauth/api/v3/custom-registration/{idp}/backchannel']?.post);
    assert.deepEqual(
      (op.parameters as JsonObject[]).map((p) => [p.name, p.in, p.required]),
      [['idp', 'path', true]],
    );
    const body = obj(op.requestBody);
    assert.equal(body.required, false);
    assert.deepEqual(Object.keys(obj(body.content)).sort(), [
      'application/json',
      'application/x-www-form-urlencoded',
    ]);
    assert.deepEqual(Object.keys(obj(op.responses)).sort(), [
      '200',
      '400',
      '403',
      '404',
      '413',
      '429',
      '500',
    ]);
    const status400 = obj(obj(obj(op.responses)['400']).content);
    assert.deepEqual(obj(status400['application/json']).schema, { $ref: '#/components/schemas/Error' });
    const ok = obj(obj(obj(obj(op.responses)['200']).content)['application/json']).schema;
    assert.deepEqual(obj(ok).required, ['status']);
    assert.deepEqual(op.security, [{ basicAuth: [] }]);
    assert.equal(op['x-required-scope'], 'user_registration');
    assert.match(String(op.description), /user_registration/);
    assert.match(String(op.description), /client_secret/, 'form credentials are mentioned');
  });

  test('security schemes: Basic for clients, none for public routes', () => {
    const schemes = obj(obj(document.components).securitySchemes);
    assert.deepEqual(schemes.basicAuth, {
      type: 'http',
      scheme: 'basic',
      description: obj(schemes.basicAuth).description,
    });
    assert.deepEqual(obj(paths['/oauth/custom-registration/{idp}/complete']?.post).security, [
      { basicAuth: [] },
    ]);
    assert.equal(obj(paths['/oauth/introspect']?.post)['x-required-scope'], 'token_introspection');
    assert.equal(obj(obj(paths['/oauth/token']?.post).requestBody).required, true);
    for (const path of ['/healthz', '/oauth/jwks', '/openapi.json', '/docs']) {
      assert.deepEqual(obj(paths[path]?.get).security, [], `${path} is public`);
    }
  });

  test('the audit events and the console: filters, cookie security, the CSRF header', () => {
    const events = obj(paths['/api/v1/audit-events']?.get);
    assert.deepEqual((events.parameters as JsonObject[]).map((p) => p.name).sort(), [
      'client_id',
      'cursor',
      'limit',
      'resource',
      'resource_id',
    ]);
    assert.equal(events['x-required-scope'], 'admin');
    assert.deepEqual(events.security, [{ basicAuth: [] }, { consoleSession: [] }]);
    assert.match(String(events.description), /X-CSRF-Token/);
    const adminChange = obj(paths['/api/v1/configuration/properties']?.post);
    assert.deepEqual(adminChange.security, [{ basicAuth: [] }, { consoleSession: [] }]);
    assert.match(String(obj(obj(adminChange.responses)['403']).description), /invalid_csrf_token/);
    const scheme = obj(obj(obj(document.components).securitySchemes).consoleSession);
    assert.deepEqual([scheme.type, scheme.in, scheme.name], ['apiKey', 'cookie', 'registrar_console']);
    const session = obj(paths['/console/api/session']);
    assert.deepEqual(obj(session.post).security, [], 'sign-in takes credentials in its body');
    assert.deepEqual(obj(session.get).security, [{ consoleSession: [] }]);
    assert.deepEqual(obj(session.delete).security, [{ consoleSession: [] }]);
    assert.ok(obj(obj(obj(session.post).responses)['204']).headers, 'the sign-in answer names its headers');
  });

  test('every route the app registered has a doc and is in the document', () => {
    const routes = registeredRoutes(r.app);
    assert.ok(routes.length >= Object.keys(EXPECTED).length, 'the routes were collected');
    const undocumented = routes.filter((route) => !route.doc).map((route) => `${route.method} ${route.url}`);
    assert.deepEqual(undocumented, [], 'a new route needs `config: { doc }`');
    for (const { method, url } of routes) {
      const path = openApiPath(url);
      assert.ok(paths[path]?.[method.toLowerCase()], `${method} ${path} is in the document`);
    }
  });

  test('/docs is a self-contained HTML page listing every path', async () => {
    const response = await r.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'text/html; charset=utf-8');
    const html = response.body;
    for (const path of Object.keys(paths))
      assert.ok(html.includes(`<code>${path}</code>`), `${path} is listed`);
    assert.ok(!/<script|<link|\ssrc=|https?:\/\//i.test(html), 'no scripts or external resources');
    assert.ok(html.includes('IdP&#39;s backchannel script'), 'text from the docs is HTML-escaped');
    assert.ok(
      html.includes('<a href="#schema-Error"><code>Error</code></a>'),
      'error responses link the Error schema',
    );
  });
});

describe('OpenAPI builder', () => {
  const Item = z.object({ name: z.string() }).meta({ id: 'TestItem', description: 'An item <of> note' });
  const Tree = z.object({
    label: z.string(),
    get children() {
      return z.array(Tree).optional();
    },
  });
  const doc: RouteDoc = {
    summary: 'Make <b>things</b>',
    description: 'Takes a < b & "c" and `<code>`.',
    tags: ['<Tag>'],
    auth: { apiClient: 'admin' },
    params: z.object({ id: z.string().describe('The <id>') }),
    query: z.object({ limit: z.int().min(1).optional() }),
    body: { 'application/json': z.object({ item: Item, tree: Tree, items: z.array(Item) }) },
    responses: {
      201: { description: 'Made', schema: Item, headers: { Location: 'Where <it> is' } },
      409: { description: 'Taken' },
    },
  };
  const routes = [
    { method: 'POST', url: '/things/:id(^\\w+)', doc },
    { method: 'GET', url: '/things/:id', doc: { ...doc, body: undefined } },
    { method: 'DELETE', url: '/undocumented' },
  ];

  test('named and recursive zod schemas become components, and the document stays valid', async () => {
    const built = buildOpenApiDocument(routes, { version: '9.9.9' });
    await assertValidOpenApi(built);
    const schemas = obj(obj(built.components).schemas);
    assert.ok(schemas.TestItem, 'a zod id names a component');
    assert.ok(schemas.Error, 'the shared Error schema is there');
    const item = obj(obj(built.paths)['/things/{id}']);
    assert.ok(item.post && item.get, 'both methods of /things/{id}');
    assert.ok(!obj(built.paths)['/undocumented'], 'a route without a doc is left out');
    const limit = (obj(item.get).parameters as JsonObject[]).find((p) => p.name === 'limit');
    assert.deepEqual(limit, {
      name: 'limit',
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1 },
    });
    assert.ok(!JSON.stringify(built).includes('$defs'), 'no $defs left');
  });

  test('the page escapes every text it shows', () => {
    const html = renderDocsPage(buildOpenApiDocument(routes, { version: '<1>' }));
    for (const raw of ['<b>things</b>', 'a < b', '<Tag>', '<of>', 'The <id>', 'Where <it>', '<1>']) {
      assert.ok(!html.includes(raw), `"${raw}" is escaped`);
    }
    for (const escaped of [
      'Make &lt;b&gt;things&lt;/b&gt;',
      'a &lt; b &amp; &quot;c&quot;',
      '<code>&lt;code&gt;</code>',
    ]) {
      assert.ok(html.includes(escaped), `"${escaped}" is shown`);
    }
  });
});
