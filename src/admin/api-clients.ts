import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { clientIdentifier } from '../config/identifiers.js';
import { API_SCOPES } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { hashSecret } from '../security/secret-hash.js';
import type { ApiClientRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import { type AdminDeps, locationOf } from './deps.js';
import { adminDoc, ID_PARAMS, notFound } from './docs.js';
import { pageQuery, pageSchema, parseOrReject } from './validation.js';

const clientId = clientIdentifier;
const secret = z.string().min(1).max(1024);
const fields = {
  name: z.string().max(255).nullable(),
  scopes: z.array(z.enum(API_SCOPES)),
};

const createBody = z.strictObject({
  client_id: clientId,
  client_secret: secret,
  name: fields.name.default(null),
  scopes: fields.scopes.default([]),
});
/** A replace: every field but the secret, which is kept when absent. */
const replaceBody = z.strictObject({
  client_id: clientId.optional(),
  client_secret: secret.optional(),
  name: fields.name.default(null),
  scopes: fields.scopes.default([]),
});
const patchBody = z.strictObject({
  client_secret: secret.optional(),
  name: fields.name.optional(),
  scopes: fields.scopes.optional(),
});

/** An API client as the admin API shows it: never the secret or its hash. */
export const apiClientView = z.object({
  client_id: z.string(),
  name: z.string().nullable(),
  scopes: z.array(z.enum(API_SCOPES)),
});
const view = ({ client_id, name, scopes }: ApiClientRecord) => ({ client_id, name, scopes });

const TAG = 'Admin: API clients';

/** `/api/v1/configuration/api-clients`: list, read, create, replace, patch, delete. Secrets are write-only. */
export async function apiClientRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store } = deps;
  const load = async (id: string) => {
    const client = await store.getApiClient(id);
    if (!client) throw notFound('API client', id);
    return client;
  };
  const checkPathId = (pathId: string, bodyId: string | undefined) => {
    if (bodyId !== undefined && bodyId !== pathId) {
      throw new RegistrarError('invalid_request', 'client_id in the body differs from the path', {
        details: [{ field: 'client_id', message: 'must equal the client id in the path' }],
      });
    }
  };

  /** Stores the changed client (a new secret only when given), audits it, returns its view. */
  const save = async (
    request: FastifyRequest,
    action: 'replace' | 'update',
    before: ApiClientRecord,
    change: Pick<ApiClientRecord, 'name' | 'scopes'>,
    newSecret: string | undefined,
  ) => {
    const secret_hash = newSecret ? await hashSecret(newSecret, deps.scryptLogN) : before.secret_hash;
    const after: ApiClientRecord = { ...change, client_id: before.client_id, secret_hash };
    await store.upsertApiClient(after);
    auditChange(request, {
      resource: 'api_client',
      id: after.client_id,
      action,
      before: view(before),
      after: { ...view(after), secret_changed: newSecret !== undefined },
    });
    return view(after);
  };

  app.get(
    '/api-clients',
    adminDoc({ summary: 'List API clients', tags: [TAG], query: pageQuery, ok: pageSchema(apiClientView) }),
    async (request, reply) => {
      const { limit, cursor } = parseOrReject(pageQuery, request.query, 'the query');
      const page = await store.listApiClients({ limit, ...(cursor ? { after: cursor } : {}) });
      return sendJson(reply, { items: page.items.map(view), next_cursor: page.next });
    },
  );

  app.post(
    '/api-clients',
    adminDoc({ summary: 'Create an API client', tags: [TAG], body: createBody, created: apiClientView }),
    async (request, reply) => {
      const body = parseOrReject(createBody, request.body);
      const record: ApiClientRecord = {
        client_id: body.client_id,
        name: body.name,
        scopes: body.scopes,
        secret_hash: await hashSecret(body.client_secret, deps.scryptLogN),
      };
      if (!(await store.createApiClient(record))) {
        throw new RegistrarError('conflict', `an API client ${body.client_id} exists already`);
      }
      auditChange(request, {
        resource: 'api_client',
        id: record.client_id,
        action: 'create',
        before: null,
        after: view(record),
      });
      reply.header('location', locationOf('api-clients', record.client_id));
      return sendJson(reply, view(record), 201);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api-clients/:id',
    adminDoc({ summary: 'Read an API client', tags: [TAG], params: ID_PARAMS, ok: apiClientView }),
    async (request, reply) => sendJson(reply, view(await load(request.params.id))),
  );

  app.put<{ Params: { id: string } }>(
    '/api-clients/:id',
    adminDoc({
      summary: 'Replace an API client',
      description: 'Replaces name and scopes; the secret changes only when `client_secret` is given.',
      tags: [TAG],
      params: ID_PARAMS,
      body: replaceBody,
      ok: apiClientView,
    }),
    async (request, reply) => {
      const body = parseOrReject(replaceBody, request.body);
      checkPathId(request.params.id, body.client_id);
      const before = await load(request.params.id);
      const change = { name: body.name, scopes: body.scopes };
      return sendJson(reply, await save(request, 'replace', before, change, body.client_secret));
    },
  );

  app.patch<{ Params: { id: string } }>(
    '/api-clients/:id',
    adminDoc({
      summary: 'Change some fields of an API client',
      tags: [TAG],
      params: ID_PARAMS,
      body: patchBody,
      ok: apiClientView,
    }),
    async (request, reply) => {
      const body = parseOrReject(patchBody, request.body);
      const before = await load(request.params.id);
      const change = {
        name: body.name === undefined ? before.name : body.name,
        scopes: body.scopes ?? before.scopes,
      };
      return sendJson(reply, await save(request, 'update', before, change, body.client_secret));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api-clients/:id',
    adminDoc({
      summary: 'Delete an API client',
      description: 'Its credentials stop working at once.',
      tags: [TAG],
      params: ID_PARAMS,
      noContent: true,
    }),
    async (request, reply) => {
      const before = await load(request.params.id);
      if (!(await store.deleteApiClient(before.client_id))) throw notFound('API client', before.client_id);
      auditChange(request, {
        resource: 'api_client',
        id: before.client_id,
        action: 'delete',
        before: view(before),
        after: null,
      });
      return reply.code(204).send();
    },
  );
}
