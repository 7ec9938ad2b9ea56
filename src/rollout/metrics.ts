/**
 * Per-version metric families of scripts with a canary running: executions, failures
 * (engine failures and statuses of 5000 and more) and wall time, labelled `idp`, `kind`
 * and `version`. Only canaried scripts are counted, so a long version history does not
 * grow the label sets of every script. And shadow comparisons by result.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { SCRIPT_DURATION_BUCKETS } from '../engine/metrics.js';

/** The canary metric families, registered in one registry. */
export class RolloutMetrics {
  private readonly executions: Counter<'idp' | 'kind' | 'version'>;
  private readonly failures: Counter<'idp' | 'kind' | 'version'>;
  private readonly duration: Histogram<'idp' | 'kind' | 'version'>;
  private readonly shadows: Counter<'idp' | 'kind' | 'result'>;

  constructor(registry: Registry) {
    const labelNames = ['idp', 'kind', 'version'] as const;
    this.executions = new Counter({
      name: 'registrar_script_version_executions_total',
      help: 'Executions of each version of a script while a canary of it runs.',
      labelNames,
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'registrar_script_version_failures_total',
      help: 'Failed executions (engine failures and statuses >= 5000) of each version while a canary runs.',
      labelNames,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'registrar_script_version_duration_seconds',
      help: 'Wall time of executions of each version while a canary runs.',
      labelNames,
      buckets: [...SCRIPT_DURATION_BUCKETS],
      registers: [registry],
    });
    this.shadows = new Counter({
      name: 'registrar_script_shadow_comparisons_total',
      help: 'Live executions copied to a shadow version, by result: same, different, or skipped (too many shadow runs in flight).',
      labelNames: ['idp', 'kind', 'result'],
      registers: [registry],
    });
  }

  /** Counts one shadow comparison. */
  shadow(idp: string, kind: string, result: 'same' | 'different' | 'skipped'): void {
    this.shadows.inc({ idp, kind, result });
  }

  /** Counts one execution of `version`. */
  execution(idp: string, kind: string, version: number, failed: boolean, wallSeconds: number): void {
    const labels = { idp, kind, version: String(version) };
    this.executions.inc(labels);
    if (failed) this.failures.inc(labels);
    this.duration.observe(labels, Math.max(wallSeconds, 0));
  }
}
