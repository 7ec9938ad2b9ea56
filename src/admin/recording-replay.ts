import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { effectiveLimits } from '../engine/limits.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import type { IdentityProviderRecord, Recording } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { type DryRunReport, dryRun, dryRunReportSchema } from './dry-run.js';
import { compileProblem, scriptFilename } from './idp-views.js';
import {
  loadRecording,
  RECORDING_PARAMS,
  type RecordingParams,
  recordingView,
  TAG,
  viewOf,
} from './recordings.js';
import { MAX_TEST_CASES, type ScriptTestCase, scriptTestCaseSchema } from './script-test-cases.js';
import { invalidFields, parseOrReject } from './validation.js';

const replayBody = z
  .strictObject({
    /** A draft to replay against instead of the active version. */
    source: z.string().optional().describe('A draft to replay against (instead of the active version)'),
    /** A stored version to replay against. */
    version: z.int().min(1).optional().describe('A stored version to replay against'),
  })
  .refine((body) => body.source === undefined || body.version === undefined, {
    message: 'give source or version, not both',
  });

/** What the recording returned, and what the replay did, in the same shape. */
const endView = z.object({
  status: z.int().nullable(),
  response_payload: z.string().nullable(),
  registration_data: z.string().nullable(),
  user: z.unknown(),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
});
type End = z.infer<typeof endView>;

const replayView = z.object({
  same: z.boolean().describe('Whether the replay ended as the recorded execution did'),
  /** What ran: the version number, or `draft`. */
  ran: z.union([z.int(), z.literal('draft')]),
  recorded: endView,
  replayed: endView,
  differences: z.array(z.object({ field: z.string(), recorded: z.unknown(), replayed: z.unknown() })),
  /** The replay's whole dry-run report (logs, times, scratch CACHE, outbound attempts). */
  report: dryRunReportSchema,
});

const testCaseBody = z.strictObject({
  name: z.string().min(1).max(200).optional().describe('The case’s name; `recording-<rid>` when absent'),
});

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
async function replaySource(
  deps: AdminDeps,
  idp: IdentityProviderRecord,
  recording: Recording,
  body: z.infer<typeof replayBody>,
): Promise<{ source: string; ran: number | 'draft' }> {
  const filename = scriptFilename(idp.id, recording.kind);
  if (body.source !== undefined) {
    const problem = compileProblem('source', { source: body.source, filename });
    if (problem) throw invalidFields('the script does not compile', [problem]);
    return { source: body.source, ran: 'draft' };
  }
  if (body.version !== undefined) {
    const stored = await deps.store.getScriptVersion(idp.id, recording.kind, body.version);
    if (!stored) throw notFound('script version', `${idp.id}/${recording.kind}/${body.version}`);
    return { source: stored.source, ran: stored.version };
  }
  const active = idp.scripts[recording.kind];
  if (!active) throw notFound('active script', `${idp.id}/${recording.kind}`);
  return { source: active.source, ran: active.version };
}

/**
 * `POST .../recordings/{rid}/replay` (a dry run of the recording's inputs against the
 * active version, a stored version or a draft, compared with what was recorded) and
 * `POST .../recordings/{rid}/test-case` (the recording as a stored test case).
 */
export async function recordingReplayRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.post<{ Params: RecordingParams }>(
    '/identity-providers/:id/recordings/:rid/replay',
    adminDoc({
      summary: 'Replay a recorded execution',
      description:
        'Runs the recorded arguments as a dry run against the active version, a stored `version` or a draft `source`: on an empty scratch CACHE (the real CACHE is never read or written) and with outbound calls refused (the network is never touched). Answers whether it ended as recorded, with each difference.',
      tags: [TAG],
      params: RECORDING_PARAMS,
      body: replayBody,
      ok: replayView,
    }),
    async (request, reply) => {
      const body = parseOrReject(replayBody, request.body ?? {});
      const recording = await loadRecording(deps, request.params);
      const idp = await deps.store.getIdentityProvider(recording.idp_id);
      if (!idp) throw notFound('identity provider', recording.idp_id);
      const { source, ran } = await replaySource(deps, idp, recording, body);
      const [data, userIdentifier, registrationData, params] = recording.execution.args;
      const report = await dryRun(
        deps.engine,
        deps.engineConfig,
        {
          idpId: idp.id,
          kind: recording.kind,
          source,
          filename: scriptFilename(idp.id, recording.kind),
          limits: effectiveLimits(deps.engineConfig, idp.limits),
          // No egress: a replay never reaches the network (HTTP.request fails in the script).
          outbound: undefined,
        },
        {
          data,
          user_identifier: userIdentifier,
          registration_data: registrationData,
          hook_context_custom_params: params,
        },
      );
      const recorded = recordedEnd(recording);
      const replayed = replayedEnd(report);
      const found = differences(recorded, replayed);
      request.log.info(
        {
          audit: {
            event: 'script_replay',
            client_id: request.adminClient ?? null,
            idp: idp.id,
            kind: recording.kind,
            recording: recording.id,
            ran,
            same: found.length === 0,
          },
        },
        'audit script_replay',
      );
      return sendJson(reply, {
        same: found.length === 0,
        ran,
        recorded,
        replayed,
        differences: found,
        report,
      });
    },
  );

  app.post<{ Params: RecordingParams }>(
    '/identity-providers/:id/recordings/:rid/test-case',
    adminDoc({
      summary: 'Turn a recorded execution into a stored test case',
      description:
        'Appends a case to the script’s stored test cases: the recorded arguments as input, the recorded outcome as expectation (status, or `error`; the payload and user when there are any). `conflict` when a case of that name exists or the list is full.',
      tags: [TAG],
      params: RECORDING_PARAMS,
      body: testCaseBody,
      created: z.object({ case: scriptTestCaseSchema, recording: recordingView }),
    }),
    async (request, reply) => {
      const body = parseOrReject(testCaseBody, request.body ?? {});
      const recording = await loadRecording(deps, request.params);
      const testCase = caseOf(recording, body.name ?? `recording-${recording.id}`);
      const before = await deps.scriptTests.list(recording.idp_id, recording.kind);
      if (before.some((c) => c.name === testCase.name)) {
        throw new RegistrarError('conflict', `a test case named ${testCase.name} exists already`);
      }
      if (before.length >= MAX_TEST_CASES) {
        throw new RegistrarError('conflict', `the script has ${MAX_TEST_CASES} test cases already`);
      }
      const cases = [...before, testCase];
      if (!(await deps.scriptTests.replace(recording.idp_id, recording.kind, cases))) {
        throw notFound('identity provider', recording.idp_id);
      }
      auditChange(request, {
        resource: 'script',
        id: `${recording.idp_id}/${recording.kind}`,
        action: 'replace_tests',
        before: { cases: before.map((c) => c.name) },
        after: { cases: cases.map((c) => c.name) },
      });
      return sendJson(reply, { case: testCase, recording: viewOf(recording) }, 201);
    },
  );
}

/** A recording as a test case: its arguments as input, its outcome as what is expected. */
export function caseOf(recording: Recording, name: string): ScriptTestCase {
  const { args, result } = recording.execution;
  const [data, userIdentifier, registrationData, params] = args;
  const expect: ScriptTestCase['expect'] = result
    ? {
        status: result.status,
        payload: result.response_payload,
        ...(result.user === null ? {} : { user: result.user as ScriptTestCase['expect']['user'] }),
      }
    : { status: 'error' };
  return {
    name,
    description: `From recording ${recording.id} (${recording.kind} version ${recording.version}, ${new Date(recording.at).toISOString()})`,
    input: {
      data,
      user_identifier: userIdentifier,
      registration_data: registrationData,
      hook_context_custom_params: params,
    },
    expect,
  };
}
