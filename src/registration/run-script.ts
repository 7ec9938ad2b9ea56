import type { EngineConfig, ScriptKind } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { effectiveLimits, effectiveShare } from '../engine/limits.js';
import type { ScriptArgs, ScriptResult } from '../engine/protocol.js';
import { RegistrarError } from '../errors.js';
import { egressFor } from '../outbound/effective-policy.js';
import { takesCanary } from '../rollout/assign.js';
import type { RolloutMonitor } from '../rollout/monitor.js';
import type { ShadowRunner } from '../rollout/shadow.js';
import type { IdentityProviderRecord } from '../storage/types.js';
import type { ExecutionRecorder } from './recorder.js';

/** A script status in the success range 2000–2999. */
export const isSuccessStatus = (status: number): boolean => status >= 2000 && status <= 2999;

/** A script status in the range 4000–4999: failed, the user may retry. */
export const isRetryableStatus = (status: number): boolean => status >= 4000 && status <= 4999;

/** How a script run takes part in a canary of its script. */
export interface CanaryOptions {
  /** Counts the executions of canaried scripts and ends canaries; without it nothing is counted. */
  rollouts?: RolloutMonitor | undefined;
  /**
   * What makes the choice of version sticky: the same key always runs the same version
   * while a canary runs (see docs/script-rollout.md); null: chosen at random.
   */
  callerKey?: string | null;
  /** Copies executions to a kind's shadow; without it shadows are not run. */
  shadows?: ShadowRunner | undefined;
  /** Records executions the IdP's `record` policy selects; without it nothing is recorded. */
  recorder?: ExecutionRecorder | undefined;
}

/**
 * Runs one of an IdP's scripts under the IdP's limits and returns what it returned.
 * While a canary of the script runs, the caller key decides between the active and the
 * new version, and the outcome is counted for the canary. A missing script or a failed
 * execution is `internal_server_error` (the engine has already logged the cause with the
 * request id).
 */
export async function runIdpScript(
  engine: ScriptEngine,
  engineConfig: EngineConfig,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  args: ScriptArgs,
  requestId: string,
  canaryOptions: CanaryOptions = {},
): Promise<ScriptResult> {
  const active = idp.scripts[kind];
  if (!active) {
    throw new RegistrarError('internal_server_error', undefined, {
      cause: new Error(`identity provider ${idp.id} has no ${kind} script`),
    });
  }
  // A canary whose previous version is no longer the active one (changed by the config file) is ignored.
  const found = idp.canaries?.[kind];
  const canary = found && found.from_version === active.version ? found : undefined;
  const script =
    canary && takesCanary(idp.id, kind, canary, canaryOptions.callerKey ?? null) ? canary.version : active;
  const outcome = await engine.execute({
    idpId: idp.id,
    kind,
    script,
    limits: effectiveLimits(engineConfig, idp.limits),
    share: effectiveShare(engineConfig, idp.limits),
    args,
    requestId,
    outbound: egressFor(engineConfig, idp),
    // An IdP that records executions has them report what they read, for replay.
    record: idp.record !== undefined && canaryOptions.recorder !== undefined,
  });
  const shadow = idp.shadows?.[kind];
  if (shadow && canaryOptions.shadows) {
    canaryOptions.shadows.offer(idp, kind, shadow, args, requestId, { version: script.version, outcome });
  }
  // Not awaited: the answer never waits for the recording (a failed write is logged).
  void canaryOptions.recorder?.offer(idp, kind, script.version, args, outcome, requestId);
  if (canary && canaryOptions.rollouts) {
    const failed = !outcome.ok || outcome.result.status >= 5000;
    canaryOptions.rollouts.record(idp.id, kind, canary, script.version, failed, outcome.wallMs);
  }
  if (!outcome.ok) throw new RegistrarError('internal_server_error', undefined, { logged: true });
  return outcome.result;
}
