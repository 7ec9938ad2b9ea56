import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SCRIPT_KINDS } from '../config/schema.js';
import { sendJson } from '../http/errors.js';
import { RECORDING_OUTCOMES } from '../storage/recording-types.js';
import type { Recording } from '../storage/types.js';
import type { AdminDeps } from './deps.js';
import { adminDoc, notFound } from './docs.js';
import { loadIdp } from './identity-providers.js';
import { idCursor, pageQuery, pageSchema, parseOrReject } from './validation.js';

/** `{id}/recordings/{rid}` in a path. */
export const RECORDING_PARAMS = z.object({
  id: z.string().describe('The identity provider id'),
  rid: z.string().describe('The recording id'),
});
export type RecordingParams = { id: string; rid: string };

const listQuery = z.strictObject({
  limit: pageQuery.shape.limit,
  /** The `next_cursor` of the previous page: an id. */
  cursor: idCursor,
  kind: z.enum(SCRIPT_KINDS).optional().describe('Only executions of this script kind'),
  outcome: z.enum(RECORDING_OUTCOMES).optional().describe('Only executions that ended so'),
  version: z.coerce.number().int().min(1).optional().describe('Only executions of this script version'),
  since: z.iso.datetime({ offset: true }).optional().describe('Only executions from this time on (ISO 8601)'),
});

const logLine = z.object({ level: z.string(), message: z.string() });

/** A recorded execution as the admin API shows it (sensitive property values masked). */
export const recordingView = z.object({
  id: z.int().describe('Grows with every recording'),
  idp_id: z.string(),
  kind: z.enum(SCRIPT_KINDS),
  version: z.int().describe('The script version that ran'),
  outcome: z
    .enum(RECORDING_OUTCOMES)
    .describe(
      '`success`: a 2000–2999 status; `failure`: another status; `error`: no result (threw, timed out, …)',
    ),
  at: z.string().describe('When it ran (ISO 8601)'),
  request_id: z.string().describe('The request it served (its log lines carry this id)'),
  args: z
    .tuple([
      z.string().nullable(),
      z.string().nullable(),
      z.string().nullable(),
      z.record(z.string(), z.array(z.string())).nullable(),
    ])
    .describe('`execute`’s arguments: data, user identifier, registration data, hook context params'),
  result: z
    .object({
      status: z.int(),
      response_payload: z.string().nullable(),
      registration_data: z.string().nullable(),
      user: z.unknown(),
    })
    .nullable()
    .describe('What the script returned; null when it failed'),
  error: z.object({ kind: z.string(), message: z.string(), line: z.int().nullable() }).nullable(),
  logs: z.array(logLine),
  cpu_ms: z.number(),
  wall_ms: z.number(),
  reads: z
    .object({
      cache: z.record(z.string(), z.string().nullable()),
      properties: z.record(z.string(), z.string().nullable()),
      http: z
        .array(z.object({ method: z.string(), url: z.string(), result: z.unknown() }))
        .optional()
        .describe(
          'Its outbound calls and what each got (`{ok, response}` or `{ok: false, message}`), in order',
        ),
    })
    .optional()
    .describe(
      'What the execution read: CACHE keys it fetched with the value found (JSON text, or null) and property ids with their values (null: unset); a replay serves them from here',
    ),
});
export type RecordingView = z.infer<typeof recordingView>;

/** A stored recording as the admin API shows it. */
export const viewOf = ({ execution, at, ...recording }: Recording): RecordingView => ({
  ...recording,
  at: new Date(at).toISOString(),
  ...execution,
});

export const TAG = 'Admin: recordings';

/** The recording `rid` of IdP `id`; `not_found` when either is missing. */
export async function loadRecording(deps: AdminDeps, params: RecordingParams): Promise<Recording> {
  const idp = await loadIdp(deps.store, params.id);
  const rid = /^[1-9][0-9]{0,14}$/.test(params.rid) ? Number(params.rid) : undefined;
  const recording = rid === undefined ? undefined : await deps.recordings.get(idp.id, rid);
  if (!recording) throw notFound('recording', `${idp.id}/${params.rid}`);
  return recording;
}

/** `GET .../identity-providers/{id}/recordings[/{rid}]`: an IdP's recorded executions. */
export async function recordingRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.get<{ Params: { id: string } }>(
    '/identity-providers/:id/recordings',
    adminDoc({
      summary: 'List an identity provider’s recorded executions',
      description:
        'The executions its `record` policy kept (every failure, a sample of successes), newest first; kept `record.retain_days` and at most `record.max_recordings`. Filters combine.',
      tags: [TAG],
      params: z.object({ id: z.string().describe('The identity provider id') }),
      query: listQuery,
      ok: pageSchema(recordingView),
    }),
    async (request, reply) => {
      const query = parseOrReject(listQuery, request.query, 'the query');
      const idp = await loadIdp(deps.store, request.params.id);
      const page = await deps.recordings.list({
        idpId: idp.id,
        limit: query.limit,
        ...(query.cursor === undefined ? {} : { after: Number(query.cursor) }),
        ...(query.kind === undefined ? {} : { kind: query.kind }),
        ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
        ...(query.version === undefined ? {} : { version: query.version }),
        ...(query.since === undefined ? {} : { since: Date.parse(query.since) }),
      });
      return sendJson(reply, { items: page.items.map(viewOf), next_cursor: page.next });
    },
  );

  app.get<{ Params: RecordingParams }>(
    '/identity-providers/:id/recordings/:rid',
    adminDoc({
      summary: 'Read a recorded execution',
      tags: [TAG],
      params: RECORDING_PARAMS,
      ok: recordingView,
    }),
    async (request, reply) => sendJson(reply, viewOf(await loadRecording(deps, request.params))),
  );
}
