/**
 * The types of the stores behind safe script changes (issue 14): each script's stored
 * test cases. Re-exported by `types.ts`, where every storage interface is found.
 */
import type { ScriptKind } from '../config/schema.js';

/**
 * One stored test case of a script. The store keeps it as given (any JSON object with a
 * `name`); what the other fields mean is the admin API's business (admin/script-test-cases.ts).
 */
export interface StoredScriptTestCase {
  name: string;
  [field: string]: unknown;
}

/**
 * The test cases stored per IdP and script kind, as one list. Every method is atomic on
 * its own; the cases of an IdP go with it when it is deleted.
 */
export interface ScriptTestStore {
  /** The cases of one IdP's script kind, in the order they were stored; empty when none. */
  list(idpId: string, kind: ScriptKind): Promise<StoredScriptTestCase[]>;
  /**
   * Replaces the whole list in one step (an empty list removes it). False, changing
   * nothing, when there is no such IdP.
   */
  replace(idpId: string, kind: ScriptKind, cases: readonly StoredScriptTestCase[]): Promise<boolean>;
}

/** Where a canary stands: running, or how it ended. */
export type RolloutState = 'running' | 'promoted' | 'rolled_back' | 'aborted';

/** How a canary runs and when it ends on its own. */
export interface RolloutPolicy {
  /** The share of executions (1–99) the new version gets. */
  percent: number;
  /** Roll back when the new version's failure rate exceeds the old one's by more than this many points… */
  margin_points: number;
  /** …once the new version has run at least this often. */
  min_executions: number;
  /** Promote to 100 % after this many executions of the new version without a rollback; null: only by hand. */
  promote_after: number | null;
}

/** Executions of one version during a canary. */
export interface RolloutCounts {
  executions: number;
  /** Engine failures and statuses of 5000 and more. */
  failures: number;
  /** Summed wall time, milliseconds. */
  wall_ms: number;
}

/** A canary of one IdP's script kind: the latest one, running or ended. */
export interface RolloutRecord extends RolloutPolicy {
  idp_id: string;
  kind: ScriptKind;
  /** The version that was active when it started (keeps the rest of the traffic). */
  from_version: number;
  /** The new version. */
  to_version: number;
  state: RolloutState;
  started_at: number;
  ended_at: number | null;
  /** Why it ended (a rollback's two rates and counts). */
  reason: string | null;
  /** The counts of every node, as far as they were added (nodes add theirs periodically). */
  counts: RolloutCountPair;
}

/** The counts of a canary's previous (`from`) and new (`to`) version. */
export interface RolloutCountPair {
  from: RolloutCounts;
  to: RolloutCounts;
}

/** What starting a canary needs. */
export interface NewRollout extends RolloutPolicy {
  to_version: number;
  started_at: number;
}

/** Why a canary could not start. */
export type RolloutRefusal = 'no_idp' | 'no_version' | 'no_active' | 'already_active' | 'running';

/** How a canary ends. */
export interface RolloutEnd {
  /** The new version of the canary meant (a stale end changes nothing). */
  to_version: number;
  state: Exclude<RolloutState, 'running'>;
  reason: string;
  /** The ending node's counts not yet added: added in the same step. */
  delta: RolloutCountPair;
  at: number;
}

/**
 * Canaries, kept in the configuration storage so every node sees the same one: at most
 * one per IdP script kind, and the IdP's record (ConfigStore.getIdentityProvider) carries
 * the running one as `canaries`. Every method is atomic on its own.
 */
export interface RolloutStore {
  /**
   * Starts a canary of `to_version` against the active version. Refused (nothing
   * changes) when the IdP or version does not exist, the kind has no active version, the
   * version is the active one, or a canary of the kind is running. A finished canary's
   * record is replaced.
   */
  startRollout(idpId: string, kind: ScriptKind, rollout: NewRollout): Promise<RolloutRecord | RolloutRefusal>;
  /** The latest canary of the kind (running or ended). */
  getRollout(idpId: string, kind: ScriptKind): Promise<RolloutRecord | undefined>;
  /**
   * Ends the running canary of `end.to_version`; `promoted` makes that version the active
   * one in the same step, the others leave the active version as it is. Undefined (nothing
   * changes) when no such canary is running, so of concurrent ends exactly one wins.
   */
  endRollout(idpId: string, kind: ScriptKind, end: RolloutEnd): Promise<RolloutRecord | undefined>;
  /**
   * Adds a node's counts to the running canary of `toVersion` in one atomic step, and
   * returns the totals; undefined (nothing added) when that canary is not running.
   */
  addRolloutCounts(
    idpId: string,
    kind: ScriptKind,
    toVersion: number,
    delta: RolloutCountPair,
  ): Promise<RolloutCountPair | undefined>;
  /**
   * Runs `version` as a shadow of the kind's active version (replacing any shadow of the
   * kind); false when the IdP or version does not exist.
   */
  startShadow(idpId: string, kind: ScriptKind, shadow: NewShadow): Promise<boolean>;
  /** Stops the kind's shadow; false when none ran. */
  stopShadow(idpId: string, kind: ScriptKind): Promise<boolean>;
}

/** What starting a shadow needs. */
export interface NewShadow {
  version: number;
  /** The share of live executions (1–100) copied to the shadow. */
  percent: number;
  started_at: number;
}
