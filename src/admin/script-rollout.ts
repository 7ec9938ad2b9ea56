import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ScriptKind } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import type { IdentityProviderRecord, RolloutCounts, RolloutRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { loadIdp } from './identity-providers.js';
import { scriptKindParam } from './idp-views.js';
import type { ScriptTestRun } from './script-test-run.js';
import { gateAudit } from './script-tests.js';

/** `rollout` of `POST .../versions/{n}/activate`: start a canary instead of activating for all. */
export const rolloutInput = z
  .strictObject({
    /** The share of executions the new version gets. */
    percent: z.int().min(1).max(99),
    /** Roll back when the new version's failure rate exceeds the previous one's by more than this many points… */
    margin_points: z.number().min(0).max(100).default(5),
    /** …once the new version ran at least this often. */
    min_executions: z.int().min(1).max(1_000_000).default(50),
    /** Promote after this many executions of the new version without a rollback; null: only by hand. */
    promote_after: z.int().min(1).max(1_000_000_000).nullable().default(null),
  })
  .refine((r) => r.promote_after === null || r.promote_after >= r.min_executions, {
    message: 'promote_after must be at least min_executions',
    path: ['promote_after'],
  });
export type RolloutInput = z.infer<typeof rolloutInput>;

/** The body `POST .../versions/{n}/activate` may have. */
export const activateBody = z.strictObject({ rollout: rolloutInput.optional() });

const versionCounts = z.object({
  version: z.int(),
  executions: z.int(),
  failures: z.int(),
  /** Failures per execution, in percent (0 without executions). */
  failure_rate: z.number(),
  mean_wall_ms: z.number(),
});

/** A canary as the admin API shows it. */
export const rolloutView = z.object({
  idp: z.string(),
  kind: scriptKindParam,
  state: z.enum(['running', 'promoted', 'rolled_back', 'aborted']),
  percent: z.int(),
  margin_points: z.number(),
  min_executions: z.int(),
  promote_after: z.int().nullable(),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  /** Why it ended: a rollback names both failure rates and counts. */
  reason: z.string().nullable(),
  /** `this_node`: the live counts of the node that answered; `stored`: as last stored (every 5 s, and at the end). */
  counts_source: z.enum(['this_node', 'stored']),
  previous: versionCounts,
  new: versionCounts,
});

const scriptParams = z.object({ id: z.string(), kind: scriptKindParam });
type ScriptParams = { id: string; kind: string };

const TAG = 'Admin: script canaries';
const BASE = '/identity-providers/:id/scripts/:kind/rollout';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const round = (n: number) => Math.round(n * 100) / 100;
const counted = (version: number, c: RolloutCounts) => ({
  version,
  executions: c.executions,
  failures: c.failures,
  failure_rate: c.executions === 0 ? 0 : round((100 * c.failures) / c.executions),
  mean_wall_ms: c.executions === 0 ? 0 : round(c.wall_ms / c.executions),
});

/** The admin view of a canary, with this node's live counts when it has them. */
export function viewRollout(deps: AdminDeps, record: RolloutRecord): z.infer<typeof rolloutView> {
  const live =
    record.state === 'running' ? deps.rollouts.liveCounts(record.idp_id, record.kind, record) : undefined;
  const counts = live ?? record.counts;
  return {
    idp: record.idp_id,
    kind: record.kind,
    state: record.state,
    percent: record.percent,
    margin_points: record.margin_points,
    min_executions: record.min_executions,
    promote_after: record.promote_after,
    started_at: iso(record.started_at) ?? '',
    ended_at: iso(record.ended_at),
    reason: record.reason,
    counts_source: live ? 'this_node' : 'stored',
    previous: counted(record.from_version, counts.from),
    new: counted(record.to_version, counts.to),
  };
}

/** `conflict` while a canary of the kind runs: a script change must wait for its promotion or abort. */
export function refuseWhileCanary(idp: IdentityProviderRecord, kind: ScriptKind): void {
  const canary = idp.canaries?.[kind];
  if (canary) {
    throw new RegistrarError(
      'conflict',
      `a canary of ${idp.id}/${kind} version ${canary.version.version} is running: promote or abort it first`,
    );
  }
}

/**
 * Starts a canary of `version` (already checked to exist and passed by the gate): the
 * active version keeps the rest of the traffic. Audited as `start_rollout`.
 */
export async function startCanary(
  deps: AdminDeps,
  request: FastifyRequest,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  version: number,
  input: RolloutInput,
  gate: { run: ScriptTestRun | null; force: boolean },
): Promise<z.infer<typeof rolloutView>> {
  const started = await deps.rolloutStore.startRollout(idp.id, kind, {
    ...input,
    to_version: version,
    started_at: Date.now(),
  });
  if (started === 'no_idp') throw notFound('identity provider', idp.id);
  if (started === 'no_version') throw notFound('script version', `${idp.id}/${kind}@${version}`);
  if (started === 'no_active') {
    throw new RegistrarError('conflict', `${idp.id}/${kind} has no active version to run a canary beside`);
  }
  if (started === 'already_active')
    throw new RegistrarError('conflict', `version ${version} is the active one`);
  if (started === 'running') refuseWhileCanary(await loadIdp(deps.store, idp.id), kind);
  if (typeof started === 'string') throw new RegistrarError('conflict', 'a canary is running');
  auditChange(request, {
    resource: 'script',
    id: `${idp.id}/${kind}`,
    action: 'start_rollout',
    before: { version: started.from_version },
    after: {
      version: started.from_version,
      canary: { version, ...input },
      ...gateAudit(gate.run, gate.force),
    },
  });
  return viewRollout(deps, started);
}

/** A script's canary: read it, promote it to 100 % or abort it. */
export async function scriptRolloutRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const target = async (params: ScriptParams) => {
    const kind = scriptKindParam.safeParse(params.kind);
    if (!kind.success) throw notFound('script kind', params.kind);
    return { idp: await loadIdp(deps.store, params.id), kind: kind.data as ScriptKind };
  };

  app.get<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Read a script’s canary (running or how the last one ended) with each version’s counts',
      tags: [TAG],
      params: scriptParams,
      ok: rolloutView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const record = await deps.rolloutStore.getRollout(idp.id, kind);
      if (!record) throw notFound('canary', `${idp.id}/${kind}`);
      return sendJson(reply, viewRollout(deps, record));
    },
  );

  for (const [path, state, action, summary] of [
    [
      'promote',
      'promoted',
      'promote_rollout',
      'Promote the running canary: its version becomes active for all',
    ],
    [
      'abort',
      'aborted',
      'abort_rollout',
      'Abort the running canary: all traffic goes back to the previous version',
    ],
  ] as const) {
    app.post<{ Params: ScriptParams }>(
      `${BASE}/${path}`,
      adminDoc({
        summary,
        description: '`conflict` when no canary of the script is running.',
        tags: [TAG],
        params: scriptParams,
        ok: rolloutView,
        more: { 409: { description: '`conflict`: no canary of the script is running' } },
      }),
      async (request, reply) => {
        const { idp, kind } = await target(request.params);
        const record = await deps.rolloutStore.getRollout(idp.id, kind);
        if (record?.state !== 'running') {
          throw new RegistrarError('conflict', `no canary of ${idp.id}/${kind} is running`);
        }
        // This node's counts not yet stored go into the end.
        const delta = deps.rollouts.forget(idp.id, kind);
        const ended = await deps.rolloutStore.endRollout(idp.id, kind, {
          to_version: record.to_version,
          state,
          reason: `${state} by ${request.adminClient ?? 'an admin client'}`,
          delta,
          at: Date.now(),
        });
        if (!ended) throw new RegistrarError('conflict', `no canary of ${idp.id}/${kind} is running`);
        auditChange(request, {
          resource: 'script',
          id: `${idp.id}/${kind}`,
          action,
          before: {
            version: record.from_version,
            canary: { version: record.to_version, percent: record.percent },
          },
          after: { version: state === 'promoted' ? record.to_version : record.from_version, state },
        });
        return sendJson(reply, viewRollout(deps, ended));
      },
    );
  }
}
