import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScriptKind } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { auditChange } from './change-audit.js';
import { type AdminDeps, locationOf } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { activeKinds, checkFlow, loadIdp } from './identity-providers.js';
import {
  compileProblem,
  scriptFilename,
  scriptInput,
  scriptKindParam,
  scriptVersionView,
} from './idp-views.js';
import { activateBody, refuseWhileCanary, rolloutView, startCanary } from './script-rollout.js';
import { testsFailedError } from './script-test-run.js';
import { forced, forceQuery, gateAudit, gateRun } from './script-tests.js';
import { invalidFields, pageQuery, pageSchema, parseOrReject } from './validation.js';

const scriptParams = z.object({ id: z.string(), kind: scriptKindParam });
const versionParams = scriptParams.extend({ version: z.coerce.number().int().min(1) });
type ScriptParams = { id: string; kind: string };
type VersionParams = ScriptParams & { version: string };

const versionInfoView = scriptVersionView.extend({ created_at: z.string(), active: z.boolean() });
const versionView = versionInfoView.extend({ source: z.string() });
const activeScriptView = scriptVersionView.extend({ kind: scriptKindParam, source: z.string() });

const TAG = 'Admin: scripts';
const BASE = '/identity-providers/:id/scripts/:kind';

const iso = (ms: number) => new Date(ms).toISOString();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** `?force=` and `?activate=` of a save. */
const saveQuery = forceQuery.extend({
  activate: z
    .enum(['true', 'false'])
    .optional()
    .describe('`false`: store the version without activating it (no tests run)'),
});

/** The gated routes' 422. */
const TESTS_FAILED = {
  422: {
    description:
      '`script_tests_failed`: the version failed a stored test case and was not activated; `details` lists each failed check (case, check, expected, got, logs)',
  },
};

/**
 * An IdP's scripts: the active version, saving (compile first, then a new immutable
 * version), removal, version history, activation (rollback) and dry runs.
 */
export async function scriptRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store } = deps;
  /** The path's IdP and kind; an unknown kind is `not_found` like an unknown IdP. */
  const target = async (params: ScriptParams) => {
    const kind = scriptKindParam.safeParse(params.kind);
    if (!kind.success) throw notFound('script kind', params.kind);
    return { idp: await loadIdp(store, params.id), kind: kind.data as ScriptKind };
  };
  const versionNumber = (params: VersionParams) => {
    const version = Number(params.version);
    if (!Number.isSafeInteger(version) || version < 1) throw notFound('script version', params.version);
    return version;
  };

  app.get<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Read the active version of a script, with its source',
      tags: [TAG],
      params: scriptParams,
      ok: activeScriptView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const script = idp.scripts[kind];
      if (!script) throw notFound('active script', `${idp.id}/${kind}`);
      const { version, sha256, filename, source } = script;
      return sendJson(reply, { kind, version, sha256, filename, source });
    },
  );

  app.put<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Save a script as a new version and activate it',
      description:
        'Compiles the source first: a syntax error is `invalid_request` with its line and column, and nothing changes. Saving the active source again creates no version (200 instead of 201). When the script has stored test cases, they run against the new source first: if any fails, the version is stored but not activated and the answer is `script_tests_failed` (422) with its `Location`; `?force=true` activates it anyway (audited as forced). `?activate=false` only stores the version (a draft for a canary or a shadow); no tests run then.',
      tags: [TAG],
      params: scriptParams,
      query: saveQuery,
      body: scriptInput,
      ok: activeScriptView,
      created: activeScriptView,
      more: TESTS_FAILED,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const query = parseOrReject(saveQuery, request.query ?? {}, 'the query');
      const force = query.force === 'true';
      const activate = query.activate !== 'false';
      const { source } = parseOrReject(scriptInput, request.body);
      if (activate) refuseWhileCanary(idp, kind);
      const script = { source, filename: scriptFilename(idp.id, kind) };
      const problem = compileProblem('source', script);
      if (problem) throw invalidFields('the script does not compile', [problem]);
      if (kind === 'init' && idp.flow !== 'two_step') {
        throw new RegistrarError('conflict', 'init scripts are only used by two_step identity providers');
      }
      // The gate: a changed source runs the stored cases before it may become active.
      const changed = idp.scripts[kind]?.sha256 !== sha256(source);
      const run = changed && activate ? await gateRun(deps, idp, kind, source) : null;
      const failing = run !== null && run.failed > 0;
      const saved = await store.saveScript(idp.id, kind, script, {
        activate: activate && (!failing || force),
      });
      if (!saved) throw notFound('identity provider', idp.id);
      const { version, sha256: hash, filename } = saved.version;
      const answer = { kind, version, sha256: hash, filename, source };
      if (saved.created) {
        auditChange(request, {
          resource: 'script',
          id: `${idp.id}/${kind}`,
          action: 'save_version',
          before: idp.scripts[kind]
            ? { version: idp.scripts[kind].version, sha256: idp.scripts[kind].sha256 }
            : null,
          after: { version, sha256: hash, ...(activate ? gateAudit(run, force) : { activated: false }) },
        });
        reply.header(
          'location',
          locationOf('identity-providers', idp.id, 'scripts', kind, 'versions', String(version)),
        );
      }
      if (failing && !force && run) {
        throw testsFailedError(run, `version ${version} is stored but not activated`);
      }
      return sendJson(reply, answer, saved.created ? 201 : 200);
    },
  );

  app.delete<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Remove a script kind from an identity provider',
      description:
        'Its versions are kept. The complete script, and a two_step IdP’s init script, cannot be removed (`conflict`).',
      tags: [TAG],
      params: scriptParams,
      noContent: true,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const active = idp.scripts[kind];
      if (!active) throw notFound('active script', `${idp.id}/${kind}`);
      refuseWhileCanary(idp, kind);
      try {
        checkFlow(idp.flow, activeKinds(idp.scripts, { [kind]: null }));
      } catch {
        throw new RegistrarError('conflict', `a ${idp.flow} identity provider needs its ${kind} script`);
      }
      const { scripts: _scripts, ...fields } = idp;
      await store.writeIdentityProvider('update', fields, { [kind]: null });
      auditChange(request, {
        resource: 'script',
        id: `${idp.id}/${kind}`,
        action: 'deactivate',
        before: { version: active.version, sha256: active.sha256 },
        after: null,
      });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: ScriptParams }>(
    `${BASE}/versions`,
    adminDoc({
      summary: 'List a script’s versions, newest first',
      tags: [TAG],
      params: scriptParams,
      query: pageQuery,
      ok: pageSchema(versionInfoView),
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const { limit, cursor } = parseOrReject(pageQuery, request.query, 'the query');
      if (cursor !== undefined && !/^[1-9]\d{0,15}$/.test(cursor)) {
        throw invalidFields('the query is invalid', [
          { field: 'cursor', message: 'must be a version number' },
        ]);
      }
      const page = await store.listScriptVersions(idp.id, kind, {
        limit,
        ...(cursor ? { after: cursor } : {}),
      });
      const items = page.items.map((info) => ({ ...info, created_at: iso(info.created_at) }));
      return sendJson(reply, { items, next_cursor: page.next });
    },
  );

  app.get<{ Params: VersionParams }>(
    `${BASE}/versions/:version`,
    adminDoc({
      summary: 'Read one version of a script, with its source',
      tags: [TAG],
      params: versionParams,
      ok: versionView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const found = await store.getScriptVersion(idp.id, kind, versionNumber(request.params));
      if (!found) throw notFound('script version', `${idp.id}/${kind}@${request.params.version}`);
      return sendJson(reply, { ...found, created_at: iso(found.created_at) });
    },
  );

  app.post<{ Params: VersionParams }>(
    `${BASE}/versions/:version/activate`,
    adminDoc({
      summary: 'Activate a version (a rollback when it is older), or start a canary of it',
      description:
        'When the script has stored test cases, they run against the version first: if any fails, nothing changes and the answer is `script_tests_failed` (422); `?force=true` activates it anyway (audited as forced). With a body `{"rollout": {"percent": 10}}` the version becomes a canary instead: it runs for that share of executions (sticky per caller) beside the active version, and is rolled back or promoted by its rule (`margin_points` 5, `min_executions` 50, `promote_after` null by default); the answer is then the canary, as `GET .../rollout` shows it. While a canary runs, other changes of the script are `conflict`.',
      tags: [TAG],
      params: versionParams,
      query: forceQuery,
      body: activateBody,
      ok: z.union([versionInfoView, rolloutView]),
      more: TESTS_FAILED,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const version = versionNumber(request.params);
      const force = forced(request.query);
      const { rollout } = parseOrReject(activateBody, request.body ?? {});
      if (kind === 'init' && idp.flow !== 'two_step') {
        throw new RegistrarError('conflict', 'init scripts are only used by two_step identity providers');
      }
      const stored = await store.getScriptVersion(idp.id, kind, version);
      if (!stored) throw notFound('script version', `${idp.id}/${kind}@${version}`);
      const before = idp.scripts[kind];
      if (before?.version !== version) refuseWhileCanary(idp, kind);
      if (rollout && before?.version === version) {
        throw new RegistrarError('conflict', `version ${version} is the active one`);
      }
      const run = before?.version === version ? null : await gateRun(deps, idp, kind, stored.source);
      if (run && run.failed > 0 && !force) {
        throw testsFailedError(run, `version ${version} was not activated`);
      }
      if (rollout) {
        return sendJson(reply, await startCanary(deps, request, idp, kind, version, rollout, { run, force }));
      }
      if (!(await store.activateScriptVersion(idp.id, kind, version))) {
        throw notFound('script version', `${idp.id}/${kind}@${version}`);
      }
      const found = await store.getScriptVersion(idp.id, kind, version);
      if (!found) throw notFound('script version', `${idp.id}/${kind}@${version}`);
      // Activating the version that is already active changes nothing, so it is not audited.
      if (before?.version !== version) {
        auditChange(request, {
          resource: 'script',
          id: `${idp.id}/${kind}`,
          action: 'activate_version',
          before: before ? { version: before.version, sha256: before.sha256 } : null,
          after: { version, sha256: found.sha256, ...gateAudit(run, force) },
        });
      }
      const { source: _source, ...info } = found;
      return sendJson(reply, { ...info, created_at: iso(info.created_at) });
    },
  );
}
