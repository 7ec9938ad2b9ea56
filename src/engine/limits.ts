import { totalmem } from 'node:os';
import type { EngineConfig, IdpLimits, ScriptLimits } from '../config/schema.js';

/** The limits one IdP's scripts run under: the IdP's overrides over the installation's defaults. */
export function effectiveLimits(engine: EngineConfig, overrides: IdpLimits): ScriptLimits {
  return {
    cpu_time_ms: overrides.cpu_time_ms ?? engine.cpu_time_ms,
    wall_time_ms: overrides.wall_time_ms ?? engine.wall_time_ms,
    memory_mb: overrides.memory_mb ?? engine.memory_mb,
  };
}

/** An IdP's share of the sandbox capacity (see {@link effectiveShare}). */
export interface IdpShare {
  /** Sandbox processes its running executions may hold at once. */
  maxProcesses: number;
  /** Its executions in sandbox processes at once, counting those waiting on outbound calls. */
  maxExecutions: number;
}

/** The sandbox pool's size and scheduling settings, with the defaults that depend on other settings filled in. */
export interface EngineCapacity {
  /** Normal-priority processes kept ready. */
  baseProcesses: number;
  /** All processes at once: base, elastic and demoted. */
  maxProcesses: number;
  share: IdpShare;
  demoteAfterMs: number;
  /** Ticks of 10 ms out of every 10 that a demoted process with work runs while others want the CPU. */
  demotedRunTicks: number;
  idleMs: number;
  killGraceMs: number;
  /** Resident memory one sandbox process may reach. */
  maxRssMb: number;
  /** Expected CPU (ms) of the executions that may wait in one process's pipe. */
  pipelineBudgetMs: number;
}

/** Capacities by engine config (configs are validated once and never change): asked per request. */
const capacities = new WeakMap<EngineConfig, EngineCapacity>();

export function engineCapacity(engine: EngineConfig): EngineCapacity {
  let capacity = capacities.get(engine);
  if (!capacity) {
    capacity = computeCapacity(engine);
    capacities.set(engine, capacity);
  }
  return capacity;
}

function computeCapacity(engine: EngineConfig): EngineCapacity {
  const base = engine.sandbox_processes;
  const maxProcesses = engine.max_sandbox_processes ?? Math.max(base, Math.min(64, base * 4));
  const fairShareMb = totalmem() / 2 ** 20 / (2 * maxProcesses);
  return {
    baseProcesses: base,
    maxProcesses,
    share: {
      maxProcesses: engine.max_processes_per_idp ?? Math.max(1, Math.floor(base / 2)),
      maxExecutions: engine.max_executions_per_idp,
    },
    demoteAfterMs: engine.demote_after_ms,
    demotedRunTicks: Math.max(1, Math.round(engine.demoted_cpu_percent / 10)),
    idleMs: engine.elastic_idle_ms,
    killGraceMs: engine.kill_grace_ms,
    maxRssMb: engine.sandbox_max_rss_mb ?? Math.round(Math.min(1024, Math.max(256, fairShareMb))),
    pipelineBudgetMs: engine.pipeline_budget_ms,
  };
}

/** One IdP's share: its own `limits.max_processes` / `max_executions` over the installation's. */
export function effectiveShare(engine: EngineConfig, overrides: IdpLimits): IdpShare {
  const { share } = engineCapacity(engine);
  return {
    maxProcesses: overrides.max_processes ?? share.maxProcesses,
    maxExecutions: overrides.max_executions ?? share.maxExecutions,
  };
}
