import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EngineConfig, ScriptKind, ScriptLimits } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import type { CacheEntry, RecordedHttpCall, ScriptLogLine } from '../engine/protocol.js';
import type { ExecutionEgress } from '../outbound/effective-policy.js';

const nullableString = z.string().nullable().optional();

/** The body of a dry run (`POST .../scripts/{kind}/test`) and the CLI's `script test` options. */
export const dryRunRequestSchema = z.strictObject({
  /** A draft to run instead of the active version. */
  source: z.string().optional(),
  /** `requestPayload`: the data string, or null. */
  data: nullableString,
  user_identifier: nullableString,
  registration_data: nullableString,
  hook_context_custom_params: z.record(z.string(), z.array(z.string())).nullable().optional(),
  /** Seeds the scratch CACHE: key → value (any JSON value), each with the default TTL. */
  cache: z.record(z.string(), z.json()).optional(),
  /**
   * Property overrides: these property ids read these values in this run; the others read
   * the installation's. (Outbound calls' own use of properties is not overridden.)
   */
  properties: z.record(z.string(), z.string()).optional(),
});
export type DryRunRequest = z.infer<typeof dryRunRequestSchema>;

const logLineSchema = z.object({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
  message: z.string(),
});

/** What a dry run reports. */
export const dryRunReportSchema = z.object({
  /** The script's status; null when it failed. */
  status: z.int().nullable(),
  response_payload: z.string().nullable(),
  registration_data: z.string().nullable(),
  user: z.unknown().nullable(),
  logs: z.array(logLineSchema),
  /** Log lines past the per-execution cap. */
  logs_dropped: z.int(),
  cpu_ms: z.number(),
  wall_ms: z.number(),
  /** The outbound calls the run made (origin and path only; no headers or bodies). */
  outbound: z.array(
    z.object({
      method: z.string(),
      url: z.string(),
      status: z.int().nullable(),
      ms: z.number(),
      error: z.string().nullable(),
    }),
  ),
  /** The scratch CACHE afterwards: key → value. */
  cache: z.record(z.string(), z.unknown()),
  error: z.object({ kind: z.string(), message: z.string(), line: z.int().nullable() }).optional(),
});
export type DryRunReport = z.infer<typeof dryRunReportSchema>;

/**
 * Runs a script once as a dry run: in the same sandbox, under the same limits, on a
 * scratch CACHE seeded from the request; the real CACHE is never read or written.
 * Logs come back in the report instead of going to the server log. Sensitive
 * property values are masked everywhere in the report (payload, user, logs, cache).
 */
export async function dryRun(
  engine: ScriptEngine,
  engineConfig: EngineConfig,
  target: {
    idpId: string;
    kind: ScriptKind;
    source: string;
    filename: string;
    limits: ScriptLimits;
    /** The IdP's egress, when its scripts may make outbound calls. */
    outbound?: ExecutionEgress | undefined;
    /** A replay: outbound calls answered from these recorded ones (then `outbound` is unused). */
    replayHttp?: RecordedHttpCall[] | undefined;
  },
  request: DryRunRequest,
): Promise<DryRunReport> {
  const ttlMs = engineConfig.cache.default_ttl_seconds * 1000;
  const seed = Object.entries(request.cache ?? {}).map(
    ([key, value]): CacheEntry => [key, JSON.stringify(value), ttlMs],
  );
  const outcome = await engine.dryRun({
    idpId: target.idpId,
    kind: target.kind,
    script: {
      version: 0,
      source: target.source,
      sha256: createHash('sha256').update(target.source).digest('hex'),
      filename: target.filename,
    },
    limits: target.limits,
    args: [
      request.data ?? null,
      request.user_identifier ?? null,
      request.registration_data ?? null,
      request.hook_context_custom_params ?? null,
    ],
    requestId: 'dry-run',
    scratch: seed,
    properties: request.properties,
    outbound: target.outbound,
    replayHttp: target.replayHttp,
  });
  const base = {
    logs: outcome.logs.map((line: ScriptLogLine) => ({ level: line.level, message: line.message })),
    logs_dropped: outcome.dropped,
    cpu_ms: round(outcome.cpuMs),
    outbound: outcome.outbound,
    wall_ms: round(outcome.wallMs),
  };
  // Everything the script produced may quote a sensitive property: mask it all.
  if (!outcome.ok) {
    return engine.mask({
      status: null,
      response_payload: null,
      registration_data: null,
      user: null,
      ...base,
      // A failed run's stores are dropped, as in a real execution; its deletes stay.
      cache: cacheObject(outcome.scratch ?? seed),
      error: outcome.error,
    });
  }
  const { result } = outcome;
  return engine.mask({
    status: result.status,
    response_payload: result.responsePayload ?? null,
    registration_data: result.registrationData ?? null,
    user: result.user ?? null,
    ...base,
    cache: cacheObject(outcome.scratch ?? []),
  });
}

/** The scratch CACHE as an object (values are the JSON text the sandbox stored). */
function cacheObject(entries: CacheEntry[]): Record<string, unknown> {
  return Object.fromEntries(entries.map(([key, value]) => [key, JSON.parse(value)]));
}

const round = (ms: number) => Math.round(ms * 100) / 100;
