import type { FastifyInstance, HTTPMethods } from 'fastify';
import { z } from 'zod';
import { SESSION_COOKIE } from '../console/cookie.js';
import { renderDocsPage } from './docs-page.js';
import { sendJson } from './errors.js';
import type { RouteAuth, RouteDoc } from './route-doc.js';

/** A JSON value, as found in the OpenAPI document. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** A route as Fastify registered it, with its doc when it has one. */
export interface CollectedRoute {
  method: string;
  /** The full Fastify path, prefix included (`/x/:idp`). */
  url: string;
  doc?: RouteDoc;
}

const FORM = 'application/x-www-form-urlencoded';
const ERROR_REF = { $ref: '#/components/schemas/Error' };
const ERROR_SCHEMA: JsonObject = {
  type: 'object',
  description: 'Every error answer: a code from the error registry and a human-readable description.',
  properties: {
    error: { type: 'string', description: 'The error code, e.g. `invalid_request`.' },
    error_description: { type: 'string' },
    details: {
      type: 'array',
      description:
        'Each bad field, when the request failed validation (admin API); for `script_tests_failed`, each failed check of a stored test case.',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string', description: 'The path of the field, e.g. `scopes[1]`.' },
          message: { type: 'string' },
          line: { type: 'integer', description: 'For a script that does not compile: where (1-based).' },
          column: { type: 'integer' },
          case: { type: 'string', description: '`script_tests_failed`: the failed test case.' },
          check: {
            type: 'string',
            description: '`script_tests_failed`: `status`, `payload`, `user`, `cache.<key>` or `logs[i]`.',
          },
          expected: { description: '`script_tests_failed`: what the case expects.' },
          got: { description: '`script_tests_failed`: what the version produced.' },
          logs: {
            type: 'array',
            description: '`script_tests_failed`: the run’s log lines (masked, at most 20).',
            items: {
              type: 'object',
              properties: { level: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
        required: ['field', 'message'],
      },
    },
  },
  required: ['error', 'error_description'],
};

const collected = new WeakMap<FastifyInstance, CollectedRoute[]>();

/**
 * Records every route registered from now on (children plugins included) through an
 * `onRoute` hook on `app`; returns the live list. Install it before any route.
 */
export function collectRouteDocs(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  collected.set(app, routes);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods as HTTPMethods[]) {
      routes.push({ method: method.toUpperCase(), url: route.url, doc: route.config?.doc });
    }
  });
  return routes;
}

/** The routes `collectRouteDocs` saw on `app`, without the HEAD twins Fastify adds to GET routes. */
export function registeredRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes = collected.get(app) ?? [];
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
  return routes.filter((r) => !(r.method === 'HEAD' && gets.has(r.url)));
}

const OPENAPI_DOC: RouteDoc = {
  summary: 'This OpenAPI 3.1 document',
  description: 'The whole HTTP surface, generated from the routes themselves.',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: { description: 'The OpenAPI document (JSON).' } },
};

const DOCS_PAGE_DOC: RouteDoc = {
  summary: 'API reference page',
  description: 'This OpenAPI document rendered as a self-contained HTML page (`text/html`).',
  tags: ['Documentation'],
  auth: 'none',
  responses: { 200: { description: 'The HTML page.' } },
};

/**
 * Collects route docs on `app` and serves `GET /openapi.json` and `GET /docs`. The
 * document is built on the first request (when every route exists) and cached.
 */
export function installOpenApi(app: FastifyInstance, info: { version: string }): void {
  collectRouteDocs(app);
  let cache: { document: JsonObject; json: string; html?: string } | undefined;
  const built = () => {
    if (!cache) {
      const document = buildOpenApiDocument(registeredRoutes(app), info);
      cache = { document, json: JSON.stringify(document) };
    }
    return cache;
  };
  app.get('/openapi.json', { config: { doc: OPENAPI_DOC } }, async (_request, reply) =>
    sendJson(reply, built().json),
  );
  app.get('/docs', { config: { doc: DOCS_PAGE_DOC } }, async (_request, reply) => {
    const doc = built();
    doc.html ??= renderDocsPage(doc.document);
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(doc.html);
  });
}

/** The OpenAPI 3.1 document of the documented routes among `routes`. */
export function buildOpenApiDocument(routes: CollectedRoute[], info: { version: string }): JsonObject {
  const schemas: Record<string, JsonObject> = { Error: ERROR_SCHEMA };
  const converter = new SchemaConverter(schemas);
  const paths: Record<string, JsonObject> = {};
  const tags: string[] = [];
  const operationIds = new Set<string>();
  for (const { method, url, doc } of routes) {
    if (!doc) continue;
    const path = openApiPath(url);
    const operationId = unique(operationIdOf(method, path), operationIds);
    for (const tag of doc.tags) if (!tags.includes(tag)) tags.push(tag);
    paths[path] ??= {};
    (paths[path] as JsonObject)[method.toLowerCase()] = operation(doc, path, operationId, converter);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Registrar',
      version: info.version,
      description:
        'Custom registration (backchannel, init, complete), OAuth tokens and operations. Every ' +
        'response carries `Cache-Control: no-store`, `Pragma: no-cache` and `X-Request-Id`; every ' +
        'error body is `{"error", "error_description"}`.',
    },
    tags: tags.map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        basicAuth: {
          type: 'http',
          scheme: 'basic',
          description:
            'client_id and client_secret, each form-urlencoded, joined by `:` and base64-encoded (RFC 6749 §2.3.1).',
        },
        consoleSession: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description:
            "The web console's session cookie, set by `POST /console/api/session` (when `server.console` is on). " +
            "A POST, PUT, PATCH or DELETE made with it must also carry the session's `X-CSRF-Token`.",
        },
      },
    },
  };
}

function operation(doc: RouteDoc, path: string, operationId: string, converter: SchemaConverter): JsonObject {
  const takesForms = doc.body !== undefined && FORM in doc.body;
  const description = [doc.description, authSentence(doc.auth, takesForms)].filter(Boolean).join('\n\n');
  const op: JsonObject = {
    operationId,
    summary: doc.summary,
    ...(description ? { description } : {}),
    tags: doc.tags,
  };
  const parameters = [
    ...pathParameters(path, doc.params, operationId, converter),
    ...(doc.query ? converter.parameters(doc.query, 'query', `${operationId}Query`) : []),
  ];
  if (parameters.length > 0) op.parameters = parameters;
  if (doc.body) {
    const content: JsonObject = {};
    let required = true;
    for (const [mediaType, schema] of Object.entries(doc.body)) {
      const json = converter.convert(schema, `${operationId}Body`);
      // The body is required when every media type has required members.
      const members = converter.resolve(json).required;
      if (!Array.isArray(members) || members.length === 0) required = false;
      content[mediaType] = { schema: json };
    }
    op.requestBody = { required, content };
  }
  const responses: JsonObject = {};
  for (const [status, response] of Object.entries(doc.responses)) {
    const answer: JsonObject = { description: response.description };
    if (response.headers) {
      answer.headers = Object.fromEntries(
        Object.entries(response.headers).map(([name, text]) => [
          name,
          { description: text, schema: { type: 'string' } },
        ]),
      );
    }
    const schema = response.schema
      ? converter.convert(response.schema, `${operationId}Response${status}`)
      : Number(status) >= 400
        ? ERROR_REF
        : undefined;
    if (schema) answer.content = { 'application/json': { schema } };
    responses[status] = answer;
  }
  op.responses = responses;
  op.security = securityOf(doc.auth);
  if (typeof doc.auth === 'object' && 'apiClient' in doc.auth) op['x-required-scope'] = doc.auth.apiClient;
  return op;
}

/** The OpenAPI `security` of a route: any one of the entries will do. */
function securityOf(auth: RouteAuth): JsonObject[] {
  if (auth === 'none') return [];
  if ('apiClient' in auth)
    return auth.consoleSession ? [{ basicAuth: [] }, { consoleSession: [] }] : [{ basicAuth: [] }];
  if ('application' in auth) return [{ basicAuth: [] }];
  return [{ consoleSession: [] }];
}

function authSentence(auth: RouteAuth, takesForms: boolean): string {
  if (auth === 'none') return ''; // `security: []` says it
  const how = takesForms
    ? 'by HTTP Basic or by `client_id` and `client_secret` fields in the form body (not both)'
    : 'by HTTP Basic';
  const cookie =
    'the console session cookie (`POST /console/api/session`); a change made with it also needs the ' +
    "session's `X-CSRF-Token` header";
  if ('apiClient' in auth) {
    const or = auth.consoleSession ? `, or ${cookie}` : '';
    return `Authentication: an API client's credentials, ${how}${or}; the client needs scope \`${auth.apiClient}\`.`;
  }
  if ('application' in auth) return `Authentication: an application's (OAuth client's) credentials, ${how}.`;
  return `Authentication: ${cookie}.`;
}

/** Every `{name}` of the path as a required path parameter, typed from `params` when given. */
function pathParameters(
  path: string,
  params: z.ZodObject | undefined,
  operationId: string,
  converter: SchemaConverter,
): JsonObject[] {
  const documented = params ? converter.parameters(params, 'path', `${operationId}Params`) : [];
  return [...path.matchAll(/\{([^}]+)\}/g)].map(
    ([, name]) =>
      documented.find((p) => p.name === name) ?? {
        name: name as string,
        in: 'path',
        required: true,
        schema: { type: 'string' },
      },
  );
}

/** `/a/:idp(^\\w+)/b` → `/a/{idp}/b`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}');
}

/** `post` + `/oauth/custom-registration/{idp}/init` → `postOauthCustomRegistrationByIdpInit`. */
function operationIdOf(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .flatMap((segment) => {
      const param = /^\{(.+)\}$/.exec(segment);
      return param ? ['by', ...(param[1] as string).split(/[^A-Za-z0-9]+/)] : segment.split(/[^A-Za-z0-9]+/);
    })
    .filter(Boolean);
  const capitalised = words.map((w) => (w[0] as string).toUpperCase() + w.slice(1));
  return method.toLowerCase() + (capitalised.join('') || 'Root');
}

function unique(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n++) candidate = `${name}_${n}`;
  taken.add(candidate);
  return candidate;
}

/**
 * zod → JSON Schema (draft 2020-12, the request's view), embeddable in the document:
 * no `$schema`, `$defs` moved to `components.schemas` (named by their zod `id`, or
 * after the operation), a root self-reference hoisted too, and zod's implicit
 * safe-integer bounds dropped.
 */
class SchemaConverter {
  private readonly taken: Set<string>;
  constructor(private readonly components: Record<string, JsonObject>) {
    this.taken = new Set(Object.keys(components));
  }

  convert(schema: z.ZodType, context: string): JsonObject {
    const json = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'input',
      unrepresentable: 'any',
    }) as JsonObject;
    const { $schema: _dialect, $defs, ...root } = json;
    const refs = new Map<string, string>();
    const defs = Object.entries(($defs ?? {}) as Record<string, JsonObject>);
    for (const [name] of defs) {
      const generated = name.startsWith('__');
      // Component names allow only [A-Za-z0-9._-].
      const component = generated
        ? unique(`${context}${name.replace(/^_+schema/, 'Schema')}`, this.taken)
        : name.replace(/[^A-Za-z0-9._-]/g, '_');
      this.taken.add(component);
      refs.set(`#/$defs/${name}`, `#/components/schemas/${component}`);
    }
    const selfReferencing = JSON.stringify(json).includes('"$ref":"#"');
    if (selfReferencing) refs.set('#', `#/components/schemas/${unique(context, this.taken)}`);
    for (const [name, def] of defs) {
      const component = (refs.get(`#/$defs/${name}`) as string).slice('#/components/schemas/'.length);
      this.components[component] ??= rewrite(def, refs) as JsonObject;
    }
    const embedded = rewrite(root, refs) as JsonObject;
    if (!selfReferencing) return embedded;
    const ref = refs.get('#') as string;
    this.components[ref.slice('#/components/schemas/'.length)] = embedded;
    return { $ref: ref };
  }

  /** A schema, or the component it refers to. */
  resolve(schema: JsonObject): JsonObject {
    const ref = schema.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/components/schemas/')) return schema;
    return this.components[ref.slice('#/components/schemas/'.length)] ?? schema;
  }

  /** An object schema's properties as OpenAPI parameters. */
  parameters(schema: z.ZodObject, location: 'path' | 'query', context: string): JsonObject[] {
    const json = this.resolve(this.convert(schema, context));
    const required = Array.isArray(json.required) ? json.required : [];
    return Object.entries((json.properties ?? {}) as Record<string, JsonObject>).map(([name, property]) => {
      const { description, ...propertySchema } = property;
      return {
        name,
        in: location,
        required: location === 'path' || required.includes(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: propertySchema,
      };
    });
  }
}

function rewrite(value: Json, refs: Map<string, string>): Json {
  if (Array.isArray(value)) return value.map((item) => rewrite(item, refs));
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof item === 'string' ? (refs.get(item) ?? item) : rewrite(item, refs);
  }
  if (out.type === 'integer') {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  return out;
}
