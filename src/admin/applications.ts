import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { clientIdentifier } from '../config/identifiers.js';
import { idpId, oauthScope } from '../config/schema.js';
import { type FieldProblem, RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { hashSecret } from '../security/secret-hash.js';
import type { ApplicationRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import { type AdminDeps, locationOf } from './deps.js';
import { adminDoc, ID_PARAMS, notFound } from './docs.js';
import { invalidFields, pageQuery, pageSchema, parseOrReject } from './validation.js';

const clientId = clientIdentifier;
const secret = z.string().min(1).max(1024);
const fields = {
  name: z.string().max(255).nullable(),
  identity_providers: z.array(idpId),
  scopes: z.array(oauthScope),
  default_scopes: z.array(oauthScope),
  access_token_ttl_seconds: z.int().min(60).max(86_400),
  refresh_tokens: z.boolean(),
};
const withDefaults = {
  name: fields.name.default(null),
  identity_providers: fields.identity_providers.default([]),
  scopes: fields.scopes.default([]),
  default_scopes: fields.default_scopes.default([]),
  access_token_ttl_seconds: fields.access_token_ttl_seconds.default(3600),
  refresh_tokens: fields.refresh_tokens.default(false),
};

const createBody = z.strictObject({ client_id: clientId, client_secret: secret, ...withDefaults });
const replaceBody = z.strictObject({
  client_id: clientId.optional(),
  client_secret: secret.optional(),
  ...withDefaults,
});
const patchBody = z.strictObject({
  client_secret: secret.optional(),
  ...Object.fromEntries(Object.entries(fields).map(([key, schema]) => [key, schema.optional()])),
}) as z.ZodType<Partial<Omit<ApplicationRecord, 'client_id' | 'secret_hash'>> & { client_secret?: string }>;

/** An application as the admin API shows it: never the secret or its hash. */
export const applicationView = z.object({ client_id: z.string(), ...fields });
const view = ({ secret_hash: _hash, ...rest }: ApplicationRecord) => rest;

const TAG = 'Admin: applications';

/** `/api/v1/configuration/applications`: the OAuth clients apps register with. Secrets are write-only. */
export async function applicationRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store } = deps;
  const load = async (id: string) => {
    const application = await store.getApplication(id);
    if (!application) throw notFound('application', id);
    return application;
  };
  /** IdPs must exist and default scopes be among the scopes, as in the config file. */
  const checkReferences = async (application: ApplicationRecord) => {
    const problems: FieldProblem[] = [];
    for (const [i, id] of application.identity_providers.entries()) {
      if (!(await store.getIdentityProvider(id))) {
        problems.push({ field: `identity_providers[${i}]`, message: `unknown identity provider ${id}` });
      }
    }
    for (const [i, scope] of application.default_scopes.entries()) {
      if (!application.scopes.includes(scope)) {
        problems.push({
          field: `default_scopes[${i}]`,
          message: `${scope} is not among the application's scopes`,
        });
      }
    }
    if (problems.length > 0) throw invalidFields('the body is invalid', problems);
  };
  /** Stores the changed application (a new secret only when given) after checking its references, audits it, returns its view. */
  const save = async (
    request: FastifyRequest,
    action: 'replace' | 'update',
    before: ApplicationRecord,
    change: Omit<ApplicationRecord, 'client_id' | 'secret_hash'>,
    newSecret: string | undefined,
  ) => {
    const secret_hash = newSecret ? await hashSecret(newSecret, deps.scryptLogN) : before.secret_hash;
    const after: ApplicationRecord = { ...change, client_id: before.client_id, secret_hash };
    await checkReferences(after);
    await store.upsertApplication(after);
    auditChange(request, {
      resource: 'application',
      id: after.client_id,
      action,
      before: view(before),
      after: { ...view(after), secret_changed: newSecret !== undefined },
    });
    return view(after);
  };

  app.get(
    '/applications',
    adminDoc({
      summary: 'List applications',
      tags: [TAG],
      query: pageQuery,
      ok: pageSchema(applicationView),
    }),
    async (request, reply) => {
      const { limit, cursor } = parseOrReject(pageQuery, request.query, 'the query');
      const page = await store.listApplications({ limit, ...(cursor ? { after: cursor } : {}) });
      return sendJson(reply, { items: page.items.map(view), next_cursor: page.next });
    },
  );

  app.post(
    '/applications',
    adminDoc({ summary: 'Create an application', tags: [TAG], body: createBody, created: applicationView }),
    async (request, reply) => {
      const { client_secret, ...body } = parseOrReject(createBody, request.body);
      const record: ApplicationRecord = {
        ...body,
        secret_hash: await hashSecret(client_secret, deps.scryptLogN),
      };
      await checkReferences(record);
      if (!(await store.createApplication(record))) {
        throw new RegistrarError('conflict', `an application ${body.client_id} exists already`);
      }
      auditChange(request, {
        resource: 'application',
        id: record.client_id,
        action: 'create',
        before: null,
        after: view(record),
      });
      reply.header('location', locationOf('applications', record.client_id));
      return sendJson(reply, view(record), 201);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/applications/:id',
    adminDoc({ summary: 'Read an application', tags: [TAG], params: ID_PARAMS, ok: applicationView }),
    async (request, reply) => sendJson(reply, view(await load(request.params.id))),
  );

  app.put<{ Params: { id: string } }>(
    '/applications/:id',
    adminDoc({
      summary: 'Replace an application',
      description: 'Replaces every field; the secret changes only when `client_secret` is given.',
      tags: [TAG],
      params: ID_PARAMS,
      body: replaceBody,
      ok: applicationView,
    }),
    async (request, reply) => {
      const { client_secret, client_id, ...body } = parseOrReject(replaceBody, request.body);
      if (client_id !== undefined && client_id !== request.params.id) {
        throw invalidFields('the body is invalid', [
          { field: 'client_id', message: 'must equal the client id in the path' },
        ]);
      }
      const before = await load(request.params.id);
      return sendJson(reply, await save(request, 'replace', before, body, client_secret));
    },
  );

  app.patch<{ Params: { id: string } }>(
    '/applications/:id',
    adminDoc({
      summary: 'Change some fields of an application',
      tags: [TAG],
      params: ID_PARAMS,
      body: patchBody,
      ok: applicationView,
    }),
    async (request, reply) => {
      const { client_secret, ...body } = parseOrReject(patchBody, request.body);
      const before = await load(request.params.id);
      const { client_id: _id, secret_hash: _hash, ...current } = before;
      return sendJson(reply, await save(request, 'update', before, { ...current, ...body }, client_secret));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/applications/:id',
    adminDoc({
      summary: 'Delete an application',
      description: 'Its credentials stop working at once.',
      tags: [TAG],
      params: ID_PARAMS,
      noContent: true,
    }),
    async (request, reply) => {
      const before = await load(request.params.id);
      if (!(await store.deleteApplication(before.client_id))) throw notFound('application', before.client_id);
      auditChange(request, {
        resource: 'application',
        id: before.client_id,
        action: 'delete',
        before: view(before),
        after: null,
      });
      return reply.code(204).send();
    },
  );
}
