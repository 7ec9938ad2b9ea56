import type { EngineConfig, ScriptKind } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { effectiveLimits } from '../engine/limits.js';
import type { ExecOutcome, ScriptArgs } from '../engine/protocol.js';
import type { Logger } from '../logging.js';
import type { IdentityProviderRecord, Shadow } from '../storage/types.js';
import type { RolloutMetrics } from './metrics.js';

/** Shadow runs in flight on one node at most; an execution past it is not copied (counted as skipped). */
export const MAX_SHADOW_RUNS = 4;
/** Differences kept per shadow on one node (the newest). */
const MAX_DIFFERENCES = 50;
/** Payloads in a difference are cut to this many characters. */
const MAX_PAYLOAD_CHARS = 500;

/** One side of a comparison: what a version answered. */
export interface ShadowAnswer {
  status: number | null;
  payload: string | null;
  /** The failure kind when it failed (`exception`, `cpu_timeout`, …). */
  error: string | null;
}

/** Where the shadow answered otherwise than the active version. */
export interface ShadowDifference {
  at: string;
  request_id: string;
  active: ShadowAnswer & { version: number };
  shadow: ShadowAnswer & { version: number };
}

/** One shadow's tallies on this node. */
export interface ShadowStats {
  version: number;
  started_at: number;
  compared: number;
  same: number;
  different: number;
  /** Sampled executions not copied because {@link MAX_SHADOW_RUNS} were in flight. */
  skipped: number;
  differences: ShadowDifference[];
}

/**
 * Shadow mode: copies a share of live executions to a kind's shadow version and compares
 * the answers. The copy runs after the caller's execution, without being awaited, as a
 * dry run: a scratch CACHE that starts empty (the real CACHE is never read or written), no
 * outbound calls (`HTTP.request` fails), no server log. Only the comparison is kept: per
 * node, in memory, the counts and the newest differences (payloads masked and cut).
 */
export class ShadowRunner {
  private readonly stats = new Map<string, ShadowStats>();
  private inFlight = 0;

  constructor(
    private readonly engine: ScriptEngine,
    private readonly engineConfig: EngineConfig,
    private readonly logger: Logger,
    private readonly metrics?: RolloutMetrics,
    private readonly random: () => number = Math.random,
  ) {}

  /** Copies one live execution to the kind's shadow when sampled; returns at once. */
  offer(
    idp: IdentityProviderRecord,
    kind: ScriptKind,
    shadow: Shadow,
    args: ScriptArgs,
    requestId: string,
    active: { version: number; outcome: ExecOutcome },
  ): void {
    if (this.random() * 100 >= shadow.percent) return;
    const stats = this.statsOf(idp.id, kind, shadow);
    if (this.inFlight >= MAX_SHADOW_RUNS) {
      stats.skipped += 1;
      this.metrics?.shadow(idp.id, kind, 'skipped');
      return;
    }
    this.inFlight += 1;
    this.compare(idp, kind, shadow, args, requestId, active, stats)
      .catch((err: unknown) =>
        this.logger.warn({ err, idp: idp.id, script_kind: kind }, 'a shadow run failed'),
      )
      .finally(() => {
        this.inFlight -= 1;
      });
  }

  /** This node's tallies of the kind's shadow (undefined when it has none for that shadow). */
  view(
    idpId: string,
    kind: ScriptKind,
    shadow: { version: number; started_at: number },
  ): ShadowStats | undefined {
    const stats = this.stats.get(`${idpId}/${kind}`);
    if (!stats || stats.version !== shadow.version || stats.started_at !== shadow.started_at)
      return undefined;
    return structuredClone(stats);
  }

  /** Forgets a stopped shadow's tallies. */
  forget(idpId: string, kind: ScriptKind): void {
    this.stats.delete(`${idpId}/${kind}`);
  }

  private statsOf(idpId: string, kind: ScriptKind, shadow: Shadow): ShadowStats {
    const key = `${idpId}/${kind}`;
    const known = this.stats.get(key);
    if (known && known.version === shadow.version.version && known.started_at === shadow.started_at)
      return known;
    const fresh: ShadowStats = {
      version: shadow.version.version,
      started_at: shadow.started_at,
      compared: 0,
      same: 0,
      different: 0,
      skipped: 0,
      differences: [],
    };
    this.stats.set(key, fresh);
    return fresh;
  }

  private async compare(
    idp: IdentityProviderRecord,
    kind: ScriptKind,
    shadow: Shadow,
    args: ScriptArgs,
    requestId: string,
    active: { version: number; outcome: ExecOutcome },
    stats: ShadowStats,
  ): Promise<void> {
    const outcome = await this.engine.dryRun({
      idpId: idp.id,
      kind,
      script: shadow.version,
      limits: effectiveLimits(this.engineConfig, idp.limits),
      args,
      requestId: `shadow:${requestId}`,
      scratch: [],
      // No outbound calls: a shadow must not act on the world.
      outbound: undefined,
    });
    const mine = answerOf(active.outcome);
    const theirs = answerOf(outcome);
    stats.compared += 1;
    const same =
      mine.status === theirs.status && mine.payload === theirs.payload && mine.error === theirs.error;
    this.metrics?.shadow(idp.id, kind, same ? 'same' : 'different');
    if (same) {
      stats.same += 1;
      return;
    }
    stats.different += 1;
    const cut = (answer: ShadowAnswer): ShadowAnswer => ({
      ...answer,
      payload: answer.payload === null ? null : answer.payload.slice(0, MAX_PAYLOAD_CHARS),
    });
    stats.differences.push(
      this.engine.mask({
        at: new Date().toISOString(),
        request_id: requestId,
        active: { version: active.version, ...cut(mine) },
        shadow: { version: shadow.version.version, ...cut(theirs) },
      }),
    );
    if (stats.differences.length > MAX_DIFFERENCES) stats.differences.shift();
  }
}

function answerOf(outcome: ExecOutcome): ShadowAnswer {
  if (!outcome.ok) return { status: null, payload: null, error: outcome.error.kind };
  return { status: outcome.result.status, payload: outcome.result.responsePayload ?? null, error: null };
}
