/**
 * Per-IdP metrics of scripts' outbound HTTP calls: calls by outcome and a latency histogram,
 * rendered in the Prometheus text exposition format.
 */
import { Counter, Histogram, MetricsRegistry } from '../metrics/prometheus.js';
import type { OutboundFailureKind } from './types.js';

export { Counter, Histogram, MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../metrics/prometheus.js';

/** How one call ended: `ok` (any HTTP status reached the script) or the failure kind. */
export type OutboundOutcome = 'ok' | OutboundFailureKind;

/** Latency buckets in seconds (`+Inf` implied). */
export const OUTBOUND_DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The outbound-call metric families: `registrar_outbound_requests_total{idp,outcome}` and
 * `registrar_outbound_request_duration_seconds{idp}` (a histogram). Registered in the given
 * registry (a fresh one by default) so a server can render them with its other families.
 */
export class OutboundMetrics {
  readonly registry: MetricsRegistry;
  readonly requests: Counter;
  readonly duration: Histogram;

  constructor(registry: MetricsRegistry = new MetricsRegistry()) {
    this.registry = registry;
    this.requests = registry.register(
      new Counter({
        name: 'registrar_outbound_requests_total',
        help: 'Outbound HTTP calls made by scripts, by IdP and outcome (ok or the failure kind).',
        labelNames: ['idp', 'outcome'],
      }),
    );
    this.duration = registry.register(
      new Histogram({
        name: 'registrar_outbound_request_duration_seconds',
        help: 'Duration of outbound HTTP calls made by scripts (including the wait for a slot), by IdP.',
        labelNames: ['idp'],
        buckets: OUTBOUND_DURATION_BUCKETS,
      }),
    );
  }

  /** Records one finished call of `idpId`, lasting `seconds`. */
  observe(idpId: string, outcome: OutboundOutcome, seconds: number): void {
    this.requests.inc({ idp: idpId, outcome });
    this.duration.observe({ idp: idpId }, seconds);
  }

  /** These two families in the text exposition format 0.0.4 (the registry renders all families). */
  render(): string {
    return this.requests.render() + this.duration.render();
  }
}
