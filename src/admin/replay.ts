import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { EngineConfig } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { effectiveLimits } from '../engine/limits.js';
import type { ConfigStore, IdentityProviderRecord, Recording } from '../storage/types.js';
import { notFound } from './docs.js';
import { type DryRunReport, dryRun, dryRunReportSchema } from './dry-run.js';
import { compileProblem, scriptFilename } from './idp-views.js';
import { readsAsInput } from './recorded-reads.js';
import { invalidFields } from './validation.js';

/** What to replay a recording against: a draft `source`, a stored `version`, or (neither) the active version. */
export const replayRequestSchema = z
  .strictObject({
    source: z.string().optional().describe('A draft to replay against (instead of the active version)'),
    version: z.int().min(1).optional().describe('A stored version to replay against'),
  })
  .refine((body) => body.source === undefined || body.version === undefined, {
    message: 'give source or version, not both',
  });
export type ReplayRequest = z.infer<typeof replayRequestSchema>;

/** What the recording returned, and what the replay did, in the same shape. */
const endView = z.object({
  status: z.int().nullable(),
  response_payload: z.string().nullable(),
  registration_data: z.string().nullable(),
  user: z.unknown(),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
});
type End = z.infer<typeof endView>;

/** What a replay answers. */
export const replayReportSchema = z.object({
  same: z.boolean().describe('Whether the replay ended as the recorded execution did'),
  /** What ran: the version number, or `draft`. */
  ran: z.union([z.int(), z.literal('draft')]),
  recorded: endView,
  replayed: endView,
  differences: z.array(z.object({ field: z.string(), recorded: z.unknown(), replayed: z.unknown() })),
  /** The replay's whole dry-run report (logs, times, scratch CACHE, outbound attempts). */
  report: dryRunReportSchema,
});

export type ReplayReport = z.infer<typeof replayReportSchema>;

const recordedEnd = ({ execution: { result, error } }: Recording): End => ({
  status: result?.status ?? null,
  response_payload: result?.response_payload ?? null,
  registration_data: result?.registration_data ?? null,
  user: result?.user ?? null,
  error: error ? { kind: error.kind, message: error.message } : null,
});

const replayedEnd = (report: DryRunReport): End => ({
  status: report.status,
  response_payload: report.response_payload,
  registration_data: report.registration_data,
  user: report.user,
  error: report.error ? { kind: report.error.kind, message: report.error.message } : null,
});

/** The fields where two ends differ (an error's line is not compared: edits move it). */
export function differences(recorded: End, replayed: End) {
  return (Object.keys(recorded) as Array<keyof End>)
    .filter((field) => !isDeepStrictEqual(recorded[field], replayed[field]))
    .map((field) => ({ field, recorded: recorded[field], replayed: replayed[field] }));
}

/** The source a replay runs: a draft, a stored version, or the active version. */
export async function replaySource(
  store: Pick<ConfigStore, 'getScriptVersion'>,
  idp: IdentityProviderRecord,
  recording: Recording,
  body: ReplayRequest,
): Promise<{ source: string; ran: number | 'draft' }> {
  const filename = scriptFilename(idp.id, recording.kind);
  if (body.source !== undefined) {
    const problem = compileProblem('source', { source: body.source, filename });
    if (problem) throw invalidFields('the script does not compile', [problem]);
    return { source: body.source, ran: 'draft' };
  }
  if (body.version !== undefined) {
    const stored = await store.getScriptVersion(idp.id, recording.kind, body.version);
    if (!stored) throw notFound('script version', `${idp.id}/${recording.kind}/${body.version}`);
    return { source: stored.source, ran: stored.version };
  }
  const active = idp.scripts[recording.kind];
  if (!active) throw notFound('active script', `${idp.id}/${recording.kind}`);
  return { source: active.source, ran: active.version };
}

/**
 * Replays a recording: its recorded arguments as a dry run of `source` (an empty scratch
 * CACHE, so the real CACHE is never touched; no egress, so `HTTP.request` fails and the
 * network is never reached), compared with what was recorded.
 */
export async function replayRecording(
  engine: ScriptEngine,
  engineConfig: EngineConfig,
  idp: IdentityProviderRecord,
  recording: Recording,
  source: string,
  ran: number | 'draft',
): Promise<ReplayReport> {
  const [data, userIdentifier, registrationData, params] = recording.execution.args;
  const report = await dryRun(
    engine,
    engineConfig,
    {
      idpId: idp.id,
      kind: recording.kind,
      source,
      filename: scriptFilename(idp.id, recording.kind),
      limits: effectiveLimits(engineConfig, idp.limits),
      outbound: undefined,
      // Its outbound calls get the recorded answers; the network is never touched.
      replayHttp: recording.execution.reads?.http,
    },
    {
      data,
      user_identifier: userIdentifier,
      registration_data: registrationData,
      hook_context_custom_params: params,
      // What the execution read from the CACHE and the properties, served from the recording.
      ...readsAsInput(recording.execution),
    },
  );
  const recorded = recordedEnd(recording);
  const replayed = replayedEnd(report);
  const found = differences(recorded, replayed);
  return { same: found.length === 0, ran, recorded, replayed, differences: found, report };
}
