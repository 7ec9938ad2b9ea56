import type { EngineConfig } from '../config/schema.js';
import type { IdentityProviderRecord } from '../storage/types.js';
import { compilePolicy, type EgressPolicy } from './policy.js';

/** What an execution needs for outbound calls: its IdP's effective policy and the per-execution cap. */
export interface ExecutionEgress {
  policy: EgressPolicy;
  maxRequests: number;
}

/** Compiled policies per IdP record (records are immutable: a change makes a new one). */
const compiled = new WeakMap<IdentityProviderRecord, EgressPolicy | null>();

/**
 * The egress an IdP's scripts get: the installation's allow-list (`engine.http`)
 * united with the IdP's own (`http`). Undefined when the union allows no host: then
 * `HTTP.request` is refused and executions keep the fast synchronous path.
 */
export function egressFor(engine: EngineConfig, idp: IdentityProviderRecord): ExecutionEgress | undefined {
  let policy = compiled.get(idp);
  if (policy === undefined) {
    const own = idp.http ?? {};
    const allowed = engine.http.allow.length + (own.allow?.length ?? 0) > 0;
    policy = allowed ? compilePolicy(engine.http, own) : null;
    compiled.set(idp, policy);
  }
  return policy ? { policy, maxRequests: engine.http.max_requests_per_execution } : undefined;
}
