import type { ScriptKind } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { ZERO_COUNTS } from '../storage/rollout-rows.js';
import type {
  AuditEventStore,
  Canary,
  RolloutCounts,
  RolloutRecord,
  RolloutStore,
} from '../storage/types.js';
import type { RolloutMetrics } from './metrics.js';

/** How often a node stores its canary counts (so the admin API and a restart see them). */
export const ROLLOUT_FLUSH_MS = 5_000;

/** Who ends a canary on its own, in the audit log. */
export const SYSTEM_ACTOR = 'system';

type Pair = { from: RolloutCounts; to: RolloutCounts };

/** One running canary's counts on this node. */
interface Tally {
  idpId: string;
  kind: ScriptKind;
  canary: Canary;
  counts: Pair;
  /** True once the stored counts (of an earlier process) were added. */
  seeded: boolean;
  /** Counts changed since the last flush. */
  dirty: boolean;
  /** An end is being stored. */
  ending: boolean;
}

/** A failure rate in percent, for messages. */
const percent = (c: RolloutCounts) => (c.executions === 0 ? 0 : (100 * c.failures) / c.executions);
const shown = (c: RolloutCounts) =>
  `${(Math.round(percent(c) * 10) / 10).toString()} % (${c.failures} of ${c.executions})`;

/**
 * Counts the executions of each version of every running canary on this node, in memory
 * (no storage round trip per execution), and ends a canary on its own: rolled back when
 * the new version's failure rate exceeds the previous one's by more than
 * `margin_points` once the new version ran `min_executions` times; promoted after
 * `promote_after` executions of the new version without that. Each end is stored (the
 * compare-and-set in RolloutStore.endRollout makes one winner), audited as `system`, and
 * logged. Counts are stored every {@link ROLLOUT_FLUSH_MS} and, when a process starts
 * counting a canary, the stored counts are added to its own.
 */
export class RolloutMonitor {
  private readonly tallies = new Map<string, Tally>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      store: RolloutStore;
      auditEvents: AuditEventStore;
      logger: Logger;
      metrics?: RolloutMetrics;
      now?: () => number;
      flushMs?: number;
    },
  ) {
    this.timer = setInterval(() => void this.flush(), deps.flushMs ?? ROLLOUT_FLUSH_MS).unref();
  }

  /** Counts one execution of `version` (the canary's new or previous one) and ends the canary when its rule says so. */
  record(
    idpId: string,
    kind: ScriptKind,
    canary: Canary,
    version: number,
    failed: boolean,
    wallMs: number,
  ): void {
    this.deps.metrics?.execution(idpId, kind, version, failed, wallMs / 1000);
    const tally = this.tally(idpId, kind, canary);
    const side = version === canary.version.version ? tally.counts.to : tally.counts.from;
    side.executions += 1;
    if (failed) side.failures += 1;
    side.wall_ms += wallMs;
    tally.dirty = true;
    this.judge(tally);
  }

  /** This node's counts of the canary, when it counts them (undefined otherwise). */
  liveCounts(idpId: string, kind: ScriptKind, record: RolloutRecord): Pair | undefined {
    const tally = this.tallies.get(`${idpId}/${kind}`);
    if (!tally || !sameCanary(tally.canary, record)) return undefined;
    return structuredClone(tally.counts);
  }

  /** Stops counting a canary that was ended by hand; returns the counts it had. */
  forget(idpId: string, kind: ScriptKind): Pair | undefined {
    const key = `${idpId}/${kind}`;
    const counts = this.tallies.get(key)?.counts;
    this.tallies.delete(key);
    return counts;
  }

  /** Stores every changed tally's counts. */
  async flush(): Promise<void> {
    for (const tally of this.tallies.values()) {
      if (!tally.dirty || !tally.seeded || tally.ending) continue;
      tally.dirty = false;
      try {
        await this.deps.store.saveRolloutCounts(
          tally.idpId,
          tally.kind,
          tally.canary.version.version,
          tally.counts,
        );
      } catch (err) {
        tally.dirty = true;
        this.deps.logger.warn(
          { err, idp: tally.idpId, script_kind: tally.kind },
          'storing canary counts failed',
        );
      }
    }
  }

  /** Stops the flush timer and stores the last counts. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private tally(idpId: string, kind: ScriptKind, canary: Canary): Tally {
    const key = `${idpId}/${kind}`;
    const known = this.tallies.get(key);
    if (known && sameCanary(known.canary, canary)) return known;
    const tally: Tally = {
      idpId,
      kind,
      canary,
      counts: { from: { ...ZERO_COUNTS }, to: { ...ZERO_COUNTS } },
      seeded: false,
      dirty: false,
      ending: false,
    };
    this.tallies.set(key, tally);
    // Counts stored by an earlier process (or, later, another node) join this one's.
    this.deps.store.getRollout(idpId, kind).then(
      (stored) => {
        if (stored && stored.state === 'running' && sameCanary(canary, stored)) {
          for (const side of ['from', 'to'] as const) {
            tally.counts[side].executions += stored.counts[side].executions;
            tally.counts[side].failures += stored.counts[side].failures;
            tally.counts[side].wall_ms += stored.counts[side].wall_ms;
          }
        }
        tally.seeded = true;
        this.judge(tally);
      },
      (err: unknown) => {
        tally.seeded = true;
        this.deps.logger.warn({ err, idp: idpId, script_kind: kind }, 'reading stored canary counts failed');
      },
    );
    return tally;
  }

  /** Ends the canary when its rule says so. */
  private judge(tally: Tally): void {
    if (tally.ending || !tally.seeded) return;
    const { canary, counts } = tally;
    const { from, to } = counts;
    if (to.executions >= canary.min_executions && percent(to) - percent(from) > canary.margin_points) {
      const reason =
        `the failure rate of version ${canary.version.version}, ${shown(to)}, exceeds that of version ` +
        `${canary.from_version}, ${shown(from)}, by more than ${canary.margin_points} points ` +
        `(after at least ${canary.min_executions} executions)`;
      void this.end(tally, 'rolled_back', reason);
    } else if (canary.promote_after !== null && to.executions >= canary.promote_after) {
      const reason =
        `version ${canary.version.version} ran ${to.executions} times (promote_after ${canary.promote_after}) ` +
        `with a failure rate of ${shown(to)} against ${shown(from)} for version ${canary.from_version}`;
      void this.end(tally, 'promoted', reason);
    }
  }

  private async end(tally: Tally, state: 'rolled_back' | 'promoted', reason: string): Promise<void> {
    tally.ending = true;
    const { idpId, kind, canary } = tally;
    const counts = structuredClone(tally.counts);
    const at = (this.deps.now ?? Date.now)();
    let ended: RolloutRecord | undefined;
    try {
      ended = await this.deps.store.endRollout(idpId, kind, {
        to_version: canary.version.version,
        state,
        reason,
        counts,
        at,
      });
    } catch (err) {
      tally.ending = false;
      this.deps.logger.error({ err, idp: idpId, script_kind: kind }, `storing a canary ${state} failed`);
      return;
    }
    this.tallies.delete(`${idpId}/${kind}`);
    // Another node (or an operator) ended it first: its record says how.
    if (!ended) return;
    const log = { idp: idpId, script_kind: kind, rollout: { state, reason, counts } };
    if (state === 'rolled_back') {
      this.deps.logger.warn(
        log,
        `canary rolled back: ${idpId}/${kind} runs version ${canary.from_version} again`,
      );
    } else {
      this.deps.logger.info(log, `canary promoted: ${idpId}/${kind} runs version ${canary.version.version}`);
    }
    try {
      await this.deps.auditEvents.append({
        at,
        client_id: SYSTEM_ACTOR,
        resource: 'script',
        resource_id: `${idpId}/${kind}`,
        action: state === 'rolled_back' ? 'rollback_rollout' : 'promote_rollout',
        before: {
          version: canary.from_version,
          canary: { version: canary.version.version, percent: canary.percent },
        },
        after: {
          version: state === 'promoted' ? canary.version.version : canary.from_version,
          state,
          reason,
          failure_rates: {
            [canary.from_version]: percent(counts.from),
            [canary.version.version]: percent(counts.to),
          },
          counts: { [canary.from_version]: counts.from, [canary.version.version]: counts.to },
        },
      });
    } catch (err) {
      this.deps.logger.error({ err, idp: idpId, script_kind: kind }, 'storing a canary audit event failed');
    }
  }
}

/** Whether a tally, a canary and a stored record are about the same canary. */
function sameCanary(canary: Canary, other: Canary | RolloutRecord): boolean {
  const version = 'version' in other ? other.version.version : other.to_version;
  return canary.started_at === other.started_at && canary.version.version === version;
}
