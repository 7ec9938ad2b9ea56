import type { EngineConfig, ScriptKind } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { effectiveLimits, effectiveShare } from '../engine/limits.js';
import type { ScriptArgs, ScriptResult } from '../engine/protocol.js';
import { RegistrarError } from '../errors.js';
import { egressFor } from '../outbound/effective-policy.js';
import type { IdentityProviderRecord } from '../storage/types.js';

/** A script status in the success range 2000–2999. */
export const isSuccessStatus = (status: number): boolean => status >= 2000 && status <= 2999;

/** A script status in the range 4000–4999: failed, the user may retry. */
export const isRetryableStatus = (status: number): boolean => status >= 4000 && status <= 4999;

/**
 * Runs one of an IdP's scripts under the IdP's limits and returns what it returned.
 * A missing script or a failed execution is `internal_server_error` (the engine has
 * already logged the cause with the request id).
 */
export async function runIdpScript(
  engine: ScriptEngine,
  engineConfig: EngineConfig,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  args: ScriptArgs,
  requestId: string,
): Promise<ScriptResult> {
  const script = idp.scripts[kind];
  if (!script) {
    throw new RegistrarError('internal_server_error', undefined, {
      cause: new Error(`identity provider ${idp.id} has no ${kind} script`),
    });
  }
  const outcome = await engine.execute({
    idpId: idp.id,
    kind,
    script,
    limits: effectiveLimits(engineConfig, idp.limits),
    share: effectiveShare(engineConfig, idp.limits),
    args,
    requestId,
    outbound: egressFor(engineConfig, idp),
  });
  if (!outcome.ok) throw new RegistrarError('internal_server_error', undefined, { logged: true });
  return outcome.result;
}
