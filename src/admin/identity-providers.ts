import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idpId, rateLimitsSchema, recordSchema, SCRIPT_KINDS, type ScriptKind } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { idpEgressSchema } from '../outbound/allow-entry.js';
import type {
  ConfigStore,
  IdentityProviderFields,
  IdentityProviderRecord,
  ScriptSource,
} from '../storage/types.js';
import { auditChange } from './change-audit.js';
import { type AdminDeps, locationOf } from './deps.js';
import { adminDoc, ID_PARAMS, notFound } from './docs.js';
import {
  flowProblems,
  identityProviderView,
  idpView,
  limitsSchema,
  rejectUncompilable,
  scriptFilename,
  scriptInput,
} from './idp-views.js';
import { forced, forceQuery, gateSources, SCRIPT_GATE } from './script-tests.js';
import { invalidFields, pageQuery, pageSchema, parseOrReject } from './validation.js';

const fields = {
  name: z.string().max(255).nullable(),
  flow: z.enum(['one_step', 'two_step']),
  enabled: z.boolean(),
  limits: limitsSchema,
  /** Hosts (and special addresses) this IdP's scripts may call besides the installation's allow-list. */
  http: idpEgressSchema,
  /** Declarative rate limits on the IdP's endpoints (as in the config file). */
  rate_limits: rateLimitsSchema,
  /** Which executions are recorded for replay (as in the config file). */
  record: recordSchema,
};
const scriptsInput = z.strictObject({
  init: scriptInput.nullable().optional(),
  complete: scriptInput.nullable().optional(),
  backchannel: scriptInput.nullable().optional(),
});

const createBody = z.strictObject({
  id: idpId,
  name: fields.name.default(null),
  flow: fields.flow.default('one_step'),
  enabled: fields.enabled.default(true),
  limits: fields.limits.default({}),
  http: fields.http.optional(),
  rate_limits: fields.rate_limits.optional(),
  record: fields.record.optional(),
  scripts: scriptsInput,
});
const replaceBody = z.strictObject({
  id: idpId.optional(),
  name: fields.name.default(null),
  flow: fields.flow.default('one_step'),
  enabled: fields.enabled.default(true),
  limits: fields.limits.default({}),
  http: fields.http.optional(),
  rate_limits: fields.rate_limits.optional(),
  record: fields.record.optional(),
  /** Scripts to save with the change (null removes a kind); kinds not named stay as they are. */
  scripts: scriptsInput.optional(),
});
const patchBody = z.strictObject({
  name: fields.name.optional(),
  flow: fields.flow.optional(),
  enabled: fields.enabled.optional(),
  limits: fields.limits.optional(),
  /** null removes the IdP's own allow-list. */
  http: fields.http.nullable().optional(),
  /** null (or []) removes the IdP's rate limits. */
  rate_limits: fields.rate_limits.nullable().optional(),
  /** null stops recording. */
  record: fields.record.nullable().optional(),
  scripts: scriptsInput.optional(),
});

type ScriptsInput = z.infer<typeof scriptsInput>;

const TAG = 'Admin: identity providers';

/**
 * `/api/v1/configuration/identity-providers`: IdPs and, in the same request, their
 * scripts. Each changed script is compiled first (nothing changes when one does not
 * compile) and saved as a new immutable version; see `scripts.ts` for versions,
 * rollback and dry runs.
 */
export async function identityProviderRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store } = deps;

  app.get(
    '/identity-providers',
    adminDoc({
      summary: 'List identity providers',
      tags: [TAG],
      query: pageQuery,
      ok: pageSchema(identityProviderView),
    }),
    async (request, reply) => {
      const { limit, cursor } = parseOrReject(pageQuery, request.query, 'the query');
      const page = await store.listIdentityProviders({ limit, ...(cursor ? { after: cursor } : {}) });
      return sendJson(reply, { items: page.items.map(idpView), next_cursor: page.next });
    },
  );

  app.post(
    '/identity-providers',
    adminDoc({
      summary: 'Create an identity provider with its scripts',
      tags: [TAG],
      body: createBody,
      created: identityProviderView,
    }),
    async (request, reply) => {
      const { scripts, ...body } = parseOrReject(createBody, request.body);
      const sources = toSources(body.id, scripts);
      rejectUncompilable(sources);
      checkFlow(body.flow, activeKinds({}, sources));
      if (!(await store.writeIdentityProvider('create', body, sources))) {
        throw new RegistrarError('conflict', `an identity provider ${body.id} exists already`);
      }
      const after = idpView(await loadIdp(store, body.id));
      auditChange(request, {
        resource: 'identity_provider',
        id: body.id,
        action: 'create',
        before: null,
        after,
      });
      reply.header('location', locationOf('identity-providers', body.id));
      return sendJson(reply, after, 201);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/identity-providers/:id',
    adminDoc({
      summary: 'Read an identity provider',
      tags: [TAG],
      params: ID_PARAMS,
      ok: identityProviderView,
    }),
    async (request, reply) => sendJson(reply, idpView(await loadIdp(store, request.params.id))),
  );

  const update = async (
    id: string,
    action: 'replace' | 'update',
    change: Omit<IdentityProviderFields, 'id'>,
    scripts: ScriptsInput | undefined,
    request: Parameters<typeof auditChange>[0],
  ) => {
    const before = await loadIdp(store, id);
    const sources = toSources(id, scripts ?? {});
    rejectUncompilable(sources);
    checkFlow(change.flow, activeKinds(before.scripts, sources));
    const force = forced(request.query);
    const tests = await gateSources(deps, { ...before, ...change, id }, sources, force);
    if (!(await store.writeIdentityProvider('update', { ...change, id }, sources)))
      throw notFound('identity provider', id);
    const after = idpView(await loadIdp(store, id));
    const audited = Object.keys(tests).length > 0 ? { ...after, script_tests: tests } : after;
    auditChange(request, {
      resource: 'identity_provider',
      id,
      action,
      before: idpView(before),
      after: audited,
    });
    return after;
  };

  app.put<{ Params: { id: string } }>(
    '/identity-providers/:id',
    adminDoc({
      summary: 'Replace an identity provider',
      description:
        'Replaces name, flow, enabled, limits, http, rate_limits and record. `scripts` may save new versions (or remove a kind with null); kinds not named keep their active version.',
      tags: [TAG],
      query: forceQuery,
      more: SCRIPT_GATE,
      params: ID_PARAMS,
      body: replaceBody,
      ok: identityProviderView,
    }),
    async (request, reply) => {
      const { id, scripts, ...body } = parseOrReject(replaceBody, request.body);
      if (id !== undefined && id !== request.params.id) {
        throw invalidFields('the body is invalid', [
          { field: 'id', message: 'must equal the id in the path' },
        ]);
      }
      return sendJson(reply, await update(request.params.id, 'replace', body, scripts, request));
    },
  );

  app.patch<{ Params: { id: string } }>(
    '/identity-providers/:id',
    adminDoc({
      summary: 'Change some fields or scripts of an identity provider',
      tags: [TAG],
      query: forceQuery,
      more: SCRIPT_GATE,
      params: ID_PARAMS,
      body: patchBody,
      ok: identityProviderView,
    }),
    async (request, reply) => {
      const { scripts, ...body } = parseOrReject(patchBody, request.body);
      const before = await loadIdp(store, request.params.id);
      const change = {
        name: body.name === undefined ? before.name : body.name,
        flow: body.flow ?? before.flow,
        enabled: body.enabled ?? before.enabled,
        limits: body.limits ?? before.limits,
        ...(body.http === null ? {} : (body.http ?? before.http) ? { http: body.http ?? before.http } : {}),
        ...(body.rate_limits === null
          ? {}
          : (body.rate_limits ?? before.rate_limits)
            ? { rate_limits: body.rate_limits ?? before.rate_limits }
            : {}),
        ...(body.record === null
          ? {}
          : (body.record ?? before.record)
            ? { record: body.record ?? before.record }
            : {}),
      };
      return sendJson(reply, await update(request.params.id, 'update', change, scripts, request));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/identity-providers/:id',
    adminDoc({
      summary: 'Delete an identity provider and its script versions',
      description: 'Refused with `conflict` while an application may register through it.',
      tags: [TAG],
      params: ID_PARAMS,
      noContent: true,
    }),
    async (request, reply) => {
      const before = await loadIdp(store, request.params.id);
      const users = await applicationsUsing(store, before.id);
      if (users.length > 0) {
        throw new RegistrarError(
          'conflict',
          `applications use identity provider ${before.id}: ${users.join(', ')}; remove it from them first`,
        );
      }
      if (!(await store.deleteIdentityProvider(before.id))) throw notFound('identity provider', before.id);
      auditChange(request, {
        resource: 'identity_provider',
        id: before.id,
        action: 'delete',
        before: idpView(before),
        after: null,
      });
      return reply.code(204).send();
    },
  );
}

/** The IdP, or `not_found`. */
export async function loadIdp(store: ConfigStore, id: string): Promise<IdentityProviderRecord> {
  const idp = await store.getIdentityProvider(id);
  if (!idp) throw notFound('identity provider', id);
  return idp;
}

/** `invalid_request` when the flow's script rules would not hold. */
export function checkFlow(flow: 'one_step' | 'two_step', kinds: ReadonlySet<ScriptKind>): void {
  const problems = flowProblems(flow, kinds);
  if (problems.length > 0) throw invalidFields('the scripts do not fit the flow', problems);
}

/** The kinds active after applying `changes` (a source saves, null removes) to `current`. */
export function activeKinds(
  current: Partial<Record<ScriptKind, unknown>>,
  changes: Partial<Record<ScriptKind, ScriptSource | null>>,
): Set<ScriptKind> {
  const kinds = new Set<ScriptKind>();
  for (const kind of SCRIPT_KINDS) {
    const change = changes[kind];
    if (change === undefined ? current[kind] !== undefined : change !== null) kinds.add(kind);
  }
  return kinds;
}

function toSources(
  idpIdValue: string,
  scripts: ScriptsInput,
): Partial<Record<ScriptKind, ScriptSource | null>> {
  const sources: Partial<Record<ScriptKind, ScriptSource | null>> = {};
  for (const kind of SCRIPT_KINDS) {
    const script = scripts[kind];
    if (script === undefined) continue;
    sources[kind] =
      script === null ? null : { source: script.source, filename: scriptFilename(idpIdValue, kind) };
  }
  return sources;
}

/** Ids of the applications that may register through `idpIdValue`. */
async function applicationsUsing(store: ConfigStore, idpIdValue: string): Promise<string[]> {
  const users: string[] = [];
  let after: string | undefined;
  do {
    const page = await store.listApplications({ limit: 200, ...(after ? { after } : {}) });
    for (const application of page.items) {
      if (application.identity_providers.includes(idpIdValue)) users.push(application.client_id);
    }
    after = page.next ?? undefined;
  } while (after);
  return users;
}
