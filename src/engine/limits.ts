import type { EngineConfig, ScriptLimits } from '../config/schema.js';

/** The limits one IdP's scripts run under: the IdP's overrides over the installation's defaults. */
export function effectiveLimits(engine: EngineConfig, overrides: Partial<ScriptLimits>): ScriptLimits {
  return {
    cpu_time_ms: overrides.cpu_time_ms ?? engine.cpu_time_ms,
    wall_time_ms: overrides.wall_time_ms ?? engine.wall_time_ms,
    memory_mb: overrides.memory_mb ?? engine.memory_mb,
  };
}
