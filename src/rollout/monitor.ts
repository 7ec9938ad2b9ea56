import type { ScriptKind } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { ZERO_COUNTS } from '../storage/rollout-rows.js';
import type {
  AuditEventStore,
  Canary,
  RolloutCountPair,
  RolloutCounts,
  RolloutRecord,
  RolloutStore,
} from '../storage/types.js';
import type { RolloutMetrics } from './metrics.js';

/** How often a node stores its canary counts (so the admin API and a restart see them). */
export const ROLLOUT_FLUSH_MS = 5_000;

/** Who ends a canary on its own, in the audit log. */
export const SYSTEM_ACTOR = 'system';

type Pair = RolloutCountPair;

/** One running canary's counts as this node knows them. */
interface Tally {
  idpId: string;
  kind: ScriptKind;
  canary: Canary;
  /** The totals of every node as last read from storage. */
  base: Pair;
  /** This node's counts not yet added to storage. */
  delta: Pair;
  /** True once the stored totals were read. */
  seeded: boolean;
  /** A flush or an end is being stored. */
  busy: boolean;
  /** An end is being stored, or was. */
  ending: boolean;
}

const zero = (): Pair => ({ from: { ...ZERO_COUNTS }, to: { ...ZERO_COUNTS } });
const sum = (a: Pair, b: Pair): Pair => ({
  from: add(a.from, b.from),
  to: add(a.to, b.to),
});
const add = (a: RolloutCounts, b: RolloutCounts): RolloutCounts => ({
  executions: a.executions + b.executions,
  failures: a.failures + b.failures,
  wall_ms: a.wall_ms + b.wall_ms,
});

/** A failure rate in percent, for messages. */
const percent = (c: RolloutCounts) => (c.executions === 0 ? 0 : (100 * c.failures) / c.executions);
const shown = (c: RolloutCounts) =>
  `${(Math.round(percent(c) * 10) / 10).toString()} % (${c.failures} of ${c.executions})`;

/**
 * Counts the executions of each version of every running canary on this node, in memory
 * (no storage round trip per execution), and ends a canary on its own: rolled back when
 * the new version's failure rate exceeds the previous one's by more than
 * `margin_points` once the new version ran `min_executions` times; promoted after
 * `promote_after` executions of the new version without that. Every
 * {@link ROLLOUT_FLUSH_MS} each node adds its counts to the stored totals
 * (RolloutStore.addRolloutCounts) and reads the totals back, so the rule is judged on
 * every node's executions: the totals as last read plus this node's since. Each end is
 * stored (the compare-and-set in RolloutStore.endRollout makes one winner, and adds the
 * ending node's counts), audited as `system`, and logged.
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
    const side = version === canary.version.version ? tally.delta.to : tally.delta.from;
    side.executions += 1;
    if (failed) side.failures += 1;
    side.wall_ms += wallMs;
    this.judge(tally);
  }

  /** The canary's totals as this node knows them (stored totals plus its own since), when it counts it. */
  liveCounts(idpId: string, kind: ScriptKind, record: RolloutRecord): Pair | undefined {
    const tally = this.tallies.get(`${idpId}/${kind}`);
    if (!tally || !sameCanary(tally.canary, record) || !tally.seeded) return undefined;
    return sum(tally.base, tally.delta);
  }

  /** Stops counting a canary that is being ended by hand; returns this node's counts not yet stored. */
  forget(idpId: string, kind: ScriptKind): Pair {
    const key = `${idpId}/${kind}`;
    const tally = this.tallies.get(key);
    this.tallies.delete(key);
    if (!tally) return zero();
    tally.ending = true;
    return tally.delta;
  }

  /** Adds every tally's counts to the stored totals and reads them back. */
  async flush(): Promise<void> {
    for (const tally of [...this.tallies.values()]) {
      if (tally.busy || tally.ending || !tally.seeded) continue;
      const delta = tally.delta;
      tally.delta = zero();
      tally.busy = true;
      try {
        const totals = await this.deps.store.addRolloutCounts(
          tally.idpId,
          tally.kind,
          tally.canary.version.version,
          delta,
        );
        if (totals) tally.base = totals;
        // Ended elsewhere: stop counting it (the IdP record will show it soon).
        else this.drop(tally);
      } catch (err) {
        tally.delta = sum(tally.delta, delta);
        this.deps.logger.warn(
          { err, idp: tally.idpId, script_kind: tally.kind },
          'storing canary counts failed',
        );
      } finally {
        tally.busy = false;
      }
      this.judge(tally);
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
      base: zero(),
      delta: zero(),
      seeded: false,
      busy: false,
      ending: false,
    };
    this.tallies.set(key, tally);
    // The totals stored by other nodes (and earlier processes) join this node's counts.
    this.deps.store.getRollout(idpId, kind).then(
      (stored) => {
        if (stored && stored.state === 'running' && sameCanary(canary, stored)) tally.base = stored.counts;
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

  private drop(tally: Tally): void {
    const key = `${tally.idpId}/${tally.kind}`;
    if (this.tallies.get(key) === tally) this.tallies.delete(key);
  }

  /** Ends the canary when its rule says so. */
  private judge(tally: Tally): void {
    if (tally.ending || tally.busy || !tally.seeded) return;
    const { canary } = tally;
    const { from, to } = sum(tally.base, tally.delta);
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
    const delta = tally.delta;
    tally.delta = zero();
    const at = (this.deps.now ?? Date.now)();
    let ended: RolloutRecord | undefined;
    try {
      ended = await this.deps.store.endRollout(idpId, kind, {
        to_version: canary.version.version,
        state,
        reason,
        delta,
        at,
      });
    } catch (err) {
      tally.ending = false;
      tally.delta = sum(tally.delta, delta);
      this.deps.logger.error({ err, idp: idpId, script_kind: kind }, `storing a canary ${state} failed`);
      return;
    }
    this.drop(tally);
    // Another node (or an operator) ended it first: its record says how.
    if (!ended) return;
    const counts = ended.counts;
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
