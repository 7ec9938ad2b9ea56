import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScriptKind } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { MAX_SHADOW_RUNS } from '../rollout/shadow.js';
import type { IdentityProviderRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { loadIdp } from './identity-providers.js';
import { scriptKindParam } from './idp-views.js';
import { parseOrReject } from './validation.js';

const scriptParams = z.object({ id: z.string(), kind: scriptKindParam });
type ScriptParams = { id: string; kind: string };

/** The body of `PUT .../shadow`. */
const shadowInput = z.strictObject({
  /** A stored version (not the active one). */
  version: z.int().min(1),
  /** The share of live executions copied to it. */
  percent: z.int().min(1).max(100).default(100),
});

const answerView = z.object({
  version: z.int(),
  status: z.int().nullable(),
  payload: z.string().nullable(),
  error: z.string().nullable(),
});

/** A shadow as the admin API shows it, with this node's comparisons. */
const shadowView = z.object({
  version: z.int(),
  percent: z.int(),
  started_at: z.string(),
  /** The answering node's comparisons (each node keeps its own). */
  compared: z.int(),
  same: z.int(),
  different: z.int(),
  /** Copies not made because too many shadow runs were in flight on the node. */
  skipped: z.int(),
  /** The newest differences (at most 50), payloads masked and cut to 500 characters. */
  differences: z.array(
    z.object({ at: z.string(), request_id: z.string(), active: answerView, shadow: answerView }),
  ),
});

const TAG = 'Admin: script shadows';
const BASE = '/identity-providers/:id/scripts/:kind/shadow';

/**
 * Shadow mode: a stored version runs beside the active one on copies of a share of live
 * inputs (after each caller's execution, never awaited by it, on a scratch CACHE, without
 * outbound calls), and where its status or payload differs from the active version's
 * answer is reported here.
 */
export async function scriptShadowRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const target = async (params: ScriptParams) => {
    const kind = scriptKindParam.safeParse(params.kind);
    if (!kind.success) throw notFound('script kind', params.kind);
    return { idp: await loadIdp(deps.store, params.id), kind: kind.data as ScriptKind };
  };
  const view = (idp: IdentityProviderRecord, kind: ScriptKind) => {
    const shadow = idp.shadows?.[kind];
    if (!shadow) throw notFound('shadow', `${idp.id}/${kind}`);
    const stats = deps.shadows.view(idp.id, kind, {
      version: shadow.version.version,
      started_at: shadow.started_at,
    });
    return {
      version: shadow.version.version,
      percent: shadow.percent,
      started_at: new Date(shadow.started_at).toISOString(),
      compared: stats?.compared ?? 0,
      same: stats?.same ?? 0,
      different: stats?.different ?? 0,
      skipped: stats?.skipped ?? 0,
      differences: stats?.differences ?? [],
    };
  };

  app.put<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Run a stored version as a shadow of the active one',
      description: `Copies \`percent\` % of live executions to the version, after each caller's execution and never awaited by it, as a dry run (a scratch CACHE that starts empty, no outbound calls), and compares its status and payload with the active version's answer. At most ${MAX_SHADOW_RUNS} shadow runs are in flight per node; replaces the kind's shadow.`,
      tags: [TAG],
      params: scriptParams,
      body: shadowInput,
      ok: shadowView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const input = parseOrReject(shadowInput, request.body);
      if (idp.scripts[kind]?.version === input.version) {
        throw new RegistrarError('conflict', `version ${input.version} is the active one`);
      }
      const started = await deps.rolloutStore.startShadow(idp.id, kind, { ...input, started_at: Date.now() });
      if (!started) throw notFound('script version', `${idp.id}/${kind}@${input.version}`);
      auditChange(request, {
        resource: 'script',
        id: `${idp.id}/${kind}`,
        action: 'start_shadow',
        before: idp.shadows?.[kind] ? { version: idp.shadows[kind].version.version } : null,
        after: input,
      });
      return sendJson(reply, view(await loadIdp(deps.store, idp.id), kind));
    },
  );

  app.get<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Read a script’s shadow and where it answered otherwise (this node’s comparisons)',
      tags: [TAG],
      params: scriptParams,
      ok: shadowView,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      return sendJson(reply, view(idp, kind));
    },
  );

  app.delete<{ Params: ScriptParams }>(
    BASE,
    adminDoc({
      summary: 'Stop a script’s shadow',
      tags: [TAG],
      params: scriptParams,
      noContent: true,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const shadow = idp.shadows?.[kind];
      if (!shadow || !(await deps.rolloutStore.stopShadow(idp.id, kind)))
        throw notFound('shadow', `${idp.id}/${kind}`);
      deps.shadows.forget(idp.id, kind);
      auditChange(request, {
        resource: 'script',
        id: `${idp.id}/${kind}`,
        action: 'stop_shadow',
        before: { version: shadow.version.version, percent: shadow.percent },
        after: null,
      });
      return reply.code(204).send();
    },
  );
}
