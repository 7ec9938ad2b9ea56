import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ScriptKind } from '../config/schema.js';
import { effectiveLimits } from '../engine/limits.js';
import { sendJson } from '../http/errors.js';
import { egressFor } from '../outbound/effective-policy.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { dryRun, dryRunReportSchema, dryRunRequestSchema } from './dry-run.js';
import { loadIdp } from './identity-providers.js';
import { compileProblem, scriptFilename, scriptKindParam } from './idp-views.js';
import { invalidFields, parseOrReject } from './validation.js';

const scriptParams = z.object({ id: z.string(), kind: scriptKindParam });
type ScriptParams = { id: string; kind: string };

const TAG = 'Admin: scripts';
const BASE = '/identity-providers/:id/scripts/:kind';

/** `POST .../scripts/{kind}/test`: a dry run of a draft or the active version. */
export async function dryRunRoute(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store } = deps;
  const target = async (params: ScriptParams) => {
    const kind = scriptKindParam.safeParse(params.kind);
    if (!kind.success) throw notFound('script kind', params.kind);
    return { idp: await loadIdp(store, params.id), kind: kind.data as ScriptKind };
  };

  app.post<{ Params: ScriptParams }>(
    `${BASE}/test`,
    adminDoc({
      summary: 'Dry-run a draft or the active version',
      description:
        'Runs the script in the same sandbox and limits on a scratch CACHE (seeded by `cache`; the real CACHE is never read or written) and reports status, payload, user, logs, CPU and wall time, the scratch CACHE afterwards, and any error with its line.',
      tags: [TAG],
      params: scriptParams,
      body: dryRunRequestSchema,
      ok: dryRunReportSchema,
    }),
    async (request, reply) => {
      const { idp, kind } = await target(request.params);
      const body = parseOrReject(dryRunRequestSchema, request.body);
      const filename = scriptFilename(idp.id, kind);
      let source = body.source;
      if (source === undefined) {
        const active = idp.scripts[kind];
        if (!active) throw notFound('active script', `${idp.id}/${kind}`);
        source = active.source;
      } else {
        const problem = compileProblem('source', { source, filename });
        if (problem) throw invalidFields('the script does not compile', [problem]);
      }
      const limits = effectiveLimits(deps.engineConfig, idp.limits);
      const report = await dryRun(
        deps.engine,
        deps.engineConfig,
        { idpId: idp.id, kind, source, filename, limits, outbound: egressFor(deps.engineConfig, idp) },
        body,
      );
      // Not a change, but who tried what is worth an audit line (the source itself is not logged).
      request.log.info(
        {
          audit: {
            event: 'script_dry_run',
            client_id: request.adminClient ?? null,
            idp: idp.id,
            kind,
            draft: body.source !== undefined,
            status: report.status,
            error: report.error?.kind ?? null,
          },
        },
        'audit script_dry_run',
      );
      return sendJson(reply, report);
    },
  );
}
