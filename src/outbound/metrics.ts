/**
 * Per-IdP metrics of scripts' outbound HTTP calls: calls by outcome and a latency histogram.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry } from '../metrics/registry.js';
import type { OutboundFailureKind } from './types.js';

/** How one call ended: `ok` (any HTTP status reached the script) or the failure kind. */
export type OutboundOutcome = 'ok' | OutboundFailureKind;

/** Latency buckets in seconds (`+Inf` implied). */
export const OUTBOUND_DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The outbound-call metric families: `registrar_outbound_requests_total{idp,outcome}` and
 * `registrar_outbound_request_duration_seconds{idp}` (a histogram). Registered in the given
 * registry (a fresh one by default) so a server renders them with its other families.
 */
export class OutboundMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'idp' | 'outcome'>;
  readonly duration: Histogram<'idp'>;
  /** Label children by `idp NUL outcome`, so a call does not rebuild them. */
  readonly #children = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<'idp'> }>();

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    this.requests = new Counter({
      name: 'registrar_outbound_requests_total',
      help: 'Outbound HTTP calls made by scripts, by IdP and outcome (ok or the failure kind).',
      labelNames: ['idp', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'registrar_outbound_request_duration_seconds',
      help: 'Duration of outbound HTTP calls made by scripts (including the wait for a slot), by IdP.',
      labelNames: ['idp'],
      buckets: [...OUTBOUND_DURATION_BUCKETS],
      registers: [registry],
    });
  }

  /** Records one finished call of `idpId`, lasting `seconds`. */
  observe(idpId: string, outcome: OutboundOutcome, seconds: number): void {
    const key = `${idpId}\0${outcome}`;
    let children = this.#children.get(key);
    if (children === undefined) {
      children = {
        requests: this.requests.labels({ idp: idpId, outcome }),
        duration: this.duration.labels({ idp: idpId }),
      };
      this.#children.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(seconds);
  }
}
