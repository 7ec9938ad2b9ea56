import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScriptKind } from '../config/schema.js';
import { sendJson } from '../http/errors.js';
import type { IdentityProviderRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { loadIdp } from './identity-providers.js';
import { compileProblem, scriptFilename, scriptKindParam } from './idp-views.js';
import { refuseWhileCanary } from './script-rollout.js';
import { caseResultSchema, scriptTestListSchema } from './script-test-cases.js';
import {
  failureDetails,
  idpTestTarget,
  runScriptTests,
  type ScriptTestRun,
  testsFailedError,
} from './script-test-run.js';
import { invalidFields, parseOrReject } from './validation.js';

const scriptParams = z.object({ id: z.string(), kind: scriptKindParam });
type ScriptParams = { id: string; kind: string };

/** The body of `PUT .../tests` and the answer of `GET`: the whole list. */
const testListBody = z.strictObject({ cases: scriptTestListSchema });

/** What `POST .../tests/run` runs, and on what: at most one of `version` and `source` (neither: the active version). */
const runBody = z
  .strictObject({
    version: z.int().min(1).optional(),
    source: z
      .string()
      .min(1)
      .max(1024 * 1024)
      .optional(),
    /** Cases to run instead of the stored ones. */
    cases: scriptTestListSchema.optional(),
  })
  .refine((body) => body.version === undefined || body.source === undefined, {
    message: 'give version or source, not both',
  });

const runView = z.object({
  /** What ran: `active`, `version` or `draft`, with the version number when there is one. */
  target: z.object({ kind: z.enum(['active', 'version', 'draft']), version: z.int().nullable() }),
  passed: z.int(),
  failed: z.int(),
  results: z.array(caseResultSchema),
});

const TAG = 'Admin: script tests';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const BASE = '/identity-providers/:id/scripts/:kind/tests';

/**
 * A script's stored test cases: read and replace the whole list, and run it (against
 * the active version, another version or a draft) in the real sandbox on a scratch
 * CACHE. The same cases gate saving and activating versions (see scripts.ts).
 */
export async function scriptTestRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store, scriptTests } = deps;
  const target = async (params: ScriptParams) => {
    const kind = scriptKindParam.safeParse(params.kind);
    if (!kind.success) throw notFound('script kind', params.kind);
    return { idp: await loadIdp(store, params.id), kind: kind.data as ScriptKind };
  };

  app.get<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Read a script’s stored test cases',
      tags: [TAG],
      params: scriptParams,
      ok: testListBody,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      return sendJson(reply, { cases: await scriptTests.list(idp.id, kind) });
    },
  );

  app.put<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Replace a script’s stored test cases (the whole list)',
      description:
        'Each case has a unique `name`, an `input` (the `execute` arguments and a CACHE seed) and an `expect` (status or status class, payload equal / matching / JSON subset, user subset, CACHE entries after, log lines). An empty list removes them. The cases are not run here; saving or activating a version runs them.',
      tags: [TAG],
      params: scriptParams,
      body: testListBody,
      ok: testListBody,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const { cases } = parseOrReject(testListBody, request.body);
      const before = await scriptTests.list(idp.id, kind);
      if (!(await scriptTests.replace(idp.id, kind, cases))) throw notFound('identity provider', idp.id);
      auditChange(request, {
        resource: 'script',
        id: `${idp.id}/${kind}`,
        action: 'replace_tests',
        before: { cases: before.map((c) => c.name) },
        after: { cases: cases.map((c) => c.name) },
      });
      return sendJson(reply, { cases });
    },
  );

  app.post<{ Params: ScriptParams }>(
    `${BASE}/run`,
    adminDoc({
      summary: 'Run a script’s test cases against the active version, a version or a draft',
      description:
        'Runs the stored cases (or `cases`, when given) one after another as dry runs: the real sandbox and limits on a scratch CACHE; nothing is saved or activated. Answers each case’s outcome, with each failed check’s expected and actual value and the run’s logs.',
      tags: [TAG],
      params: scriptParams,
      body: runBody,
      ok: runView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const body = parseOrReject(runBody, request.body ?? {});
      const { source, ran } = await sourceToRun(deps, idp, kind, body);
      const cases = body.cases ?? (await scriptTests.list(idp.id, kind));
      const run = await runScriptTests(
        idpTestTarget(deps.engine, deps.engineConfig, idp, kind, source),
        cases,
      );
      request.log.info(
        {
          audit: {
            event: 'script_tests_run',
            client_id: request.adminClient ?? null,
            idp: idp.id,
            kind,
            target: ran.kind,
            passed: run.passed,
            failed: run.failed,
          },
        },
        'audit script_tests_run',
      );
      return sendJson(reply, { target: ran, ...run });
    },
  );
}

/** The source a run uses: the draft given, the version named, or the active one. */
async function sourceToRun(
  deps: AdminDeps,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  body: z.infer<typeof runBody>,
): Promise<{ source: string; ran: z.infer<typeof runView>['target'] }> {
  if (body.source !== undefined) {
    const problem = compileProblem('source', { source: body.source, filename: scriptFilename(idp.id, kind) });
    if (problem) throw invalidFields('the script does not compile', [problem]);
    return { source: body.source, ran: { kind: 'draft', version: null } };
  }
  if (body.version !== undefined) {
    const found = await deps.store.getScriptVersion(idp.id, kind, body.version);
    if (!found) throw notFound('script version', `${idp.id}/${kind}@${body.version}`);
    return { source: found.source, ran: { kind: 'version', version: body.version } };
  }
  const active = idp.scripts[kind];
  if (!active) throw notFound('active script', `${idp.id}/${kind}`);
  return { source: active.source, ran: { kind: 'active', version: active.version } };
}

/**
 * The gate: runs `kind`'s stored cases of `idp` against `source`; null when the script
 * has none (then every version goes through, as before stored tests existed).
 */
export async function gateRun(
  deps: AdminDeps,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  source: string,
): Promise<ScriptTestRun | null> {
  const cases = await deps.scriptTests.list(idp.id, kind);
  if (cases.length === 0) return null;
  return runScriptTests(idpTestTarget(deps.engine, deps.engineConfig, idp, kind, source), cases);
}

/** What the audit event of a gated change says about the tests (nothing when there were none). */
export function gateAudit(run: ScriptTestRun | null, force: boolean): Record<string, unknown> {
  if (!run) return {};
  const tests = { passed: run.passed, failed: run.failed };
  if (run.failed === 0) return { tests };
  const failures = failureDetails(run).map(({ case: name, check, expected, got }) => ({
    case: name,
    check,
    expected,
    got,
  }));
  return { tests, activated: force, forced: force, failures };
}

/** The 422 of IdP writes whose scripts have stored tests. */
export const SCRIPT_GATE = {
  422: {
    description:
      '`script_tests_failed`: a changed script failed a stored test case, so nothing changed (`?force=true` writes anyway)',
  },
};

/** `?force=true|false` of the gated routes. */
export const forceQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .optional()
    .describe(
      '`true`: activate even when stored test cases fail (audited as `forced: true` with the failures)',
    ),
});

/** Whether the request asks to activate whatever the tests say (`invalid_request` for a bad `force`). */
export function forced(query: unknown): boolean {
  return parseOrReject(forceQuery, query ?? {}, 'the query').force === 'true';
}

/**
 * The gate for an IdP write that carries scripts (`PUT`/`PATCH .../identity-providers/{id}`):
 * each changed source with stored cases runs them, as `idp` will be after the write. A
 * failure without `force` is `script_tests_failed` and nothing is written (a script saved
 * through `PUT .../scripts/{kind}` is stored inactive instead). Returns what the audit
 * event should add, by kind.
 */
export async function gateSources(
  deps: AdminDeps,
  idp: IdentityProviderRecord,
  sources: Partial<Record<ScriptKind, { source: string } | null>>,
  force: boolean,
): Promise<Record<string, unknown>> {
  const audit: Record<string, unknown> = {};
  for (const [kind, script] of Object.entries(sources) as Array<[ScriptKind, { source: string } | null]>) {
    if (idp.scripts[kind]?.sha256 === (script && sha256(script.source))) continue;
    refuseWhileCanary(idp, kind);
    if (!script) continue;
    const run = await gateRun(deps, idp, kind, script.source);
    if (run && run.failed > 0 && !force) {
      throw testsFailedError(run, `the ${kind} script was not saved and nothing changed`);
    }
    if (run) audit[kind] = gateAudit(run, force);
  }
  return audit;
}
