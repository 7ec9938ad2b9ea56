import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import type { Recording } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { readsAsInput } from './recorded-reads.js';
import {
  loadRecording,
  RECORDING_PARAMS,
  type RecordingParams,
  recordingView,
  TAG,
  viewOf,
} from './recordings.js';
import { replayRecording, replayReportSchema, replayRequestSchema, replaySource } from './replay.js';
import { MAX_TEST_CASES, type ScriptTestCase, scriptTestCaseSchema } from './script-test-cases.js';
import { parseOrReject } from './validation.js';

const testCaseBody = z.strictObject({
  name: z.string().min(1).max(200).optional().describe('The case’s name; `recording-<rid>` when absent'),
});

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
      body: replayRequestSchema,
      ok: replayReportSchema,
    }),
    async (request, reply) => {
      const body = parseOrReject(replayRequestSchema, request.body ?? {});
      const recording = await loadRecording(deps, request.params);
      const idp = await deps.store.getIdentityProvider(recording.idp_id);
      if (!idp) throw notFound('identity provider', recording.idp_id);
      const { source, ran } = await replaySource(deps.store, idp, recording, body);
      const replay = await replayRecording(deps.engine, deps.engineConfig, idp, recording, source, ran);
      request.log.info(
        {
          audit: {
            event: 'script_replay',
            client_id: request.adminClient ?? null,
            idp: idp.id,
            kind: recording.kind,
            recording: recording.id,
            ran,
            same: replay.same,
          },
        },
        'audit script_replay',
      );
      return sendJson(reply, replay);
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
      ...readsAsInput(recording.execution),
    },
    expect,
  };
}
