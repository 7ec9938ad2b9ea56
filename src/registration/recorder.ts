import { recordSchema, type ScriptKind } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import type { ExecOutcome, ScriptArgs } from '../engine/protocol.js';
import type { Logger } from '../logging.js';
import type {
  ConfigStore,
  IdentityProviderRecord,
  NewRecording,
  RecordedExecution,
  RecordingOutcome,
  RecordingStore,
} from '../storage/types.js';

/** How an execution ended, as recordings name it. */
export function recordingOutcome(outcome: ExecOutcome): RecordingOutcome {
  if (!outcome.ok) return 'error';
  return outcome.result.status >= 2000 && outcome.result.status <= 2999 ? 'success' : 'failure';
}

/** What an execution saw and did, as stored (not yet masked). */
export function recordedExecution(args: ScriptArgs, outcome: ExecOutcome): RecordedExecution {
  return {
    args: [...args],
    result: outcome.ok
      ? {
          status: outcome.result.status,
          response_payload: outcome.result.responsePayload ?? null,
          registration_data: outcome.result.registrationData ?? null,
          user: outcome.result.user ?? null,
        }
      : null,
    error: outcome.ok ? null : outcome.error,
    logs: outcome.logs.map(({ level, message }) => ({ level, message })),
    cpu_ms: Math.round(outcome.cpuMs * 100) / 100,
    wall_ms: Math.round(outcome.wallMs * 100) / 100,
    ...(outcome.reads ? { reads: outcome.reads } : {}),
  };
}

/**
 * Records live executions of IdP scripts whose IdP asks for it (`record`): every
 * failure when `failures`, and `sample_percent` of the successes. The write is not
 * awaited: the answer never waits for it, and a failed write is only logged. Every
 * sensitive property value is masked (the engine's mask) before it is stored.
 */
export class ExecutionRecorder {
  constructor(
    private readonly store: RecordingStore,
    private readonly engine: Pick<ScriptEngine, 'mask'>,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores the execution when the IdP's policy selects it; resolves when the write is done (callers need not wait). */
  offer(
    idp: IdentityProviderRecord,
    kind: ScriptKind,
    version: number,
    args: ScriptArgs,
    outcome: ExecOutcome,
    requestId: string,
  ): Promise<void> {
    const policy = idp.record;
    if (!policy) return Promise.resolve();
    const ended = recordingOutcome(outcome);
    const wanted = ended === 'success' ? this.random() * 100 < policy.sample_percent : policy.failures;
    if (!wanted) return Promise.resolve();
    const recording: NewRecording = {
      idp_id: idp.id,
      kind,
      version,
      outcome: ended,
      at: this.now(),
      request_id: requestId,
      execution: this.engine.mask(recordedExecution(args, outcome)),
    };
    return this.store.append(recording).then(
      () => {},
      (err: unknown) =>
        this.logger.warn({ err, idp: idp.id, kind, request_id: requestId }, 'storing a recording failed'),
    );
  }
}

const DAY_MS = 86_400_000;

/**
 * Purges every IdP's recordings past its retention (`record.retain_days`,
 * `record.max_recordings`; an IdP that no longer records keeps the defaults' worth, then
 * loses them as they age). Resolves to how many were removed.
 */
export async function purgeRecordings(
  config: Pick<ConfigStore, 'listIdentityProviders'>,
  recordings: RecordingStore,
  now: number,
): Promise<number> {
  let removed = 0;
  let after: string | undefined;
  do {
    const page = await config.listIdentityProviders({
      limit: 100,
      ...(after === undefined ? {} : { after }),
    });
    for (const idp of page.items) {
      const policy = idp.record ?? RECORD_DEFAULTS;
      removed += await recordings.purge({
        idpId: idp.id,
        since: now - policy.retain_days * DAY_MS,
        keep: policy.max_recordings,
      });
    }
    after = page.next ?? undefined;
  } while (after !== undefined);
  return removed;
}

const RECORD_DEFAULTS = recordSchema.parse({});
