/**
 * The metrics registry behind `GET /metrics`, on prom-client. Each app gets its own
 * registry; nothing is registered in prom-client's global default one, so tests and
 * several apps in one process never collide.
 */
import { Counter, prometheusContentType, Registry } from 'prom-client';
import { droppedLogLines } from '../logging.js';

/** The content type of a registry's `metrics()` text (Prometheus text format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE: string = prometheusContentType;

/**
 * A fresh, empty registry in the Prometheus text format, for one app's metric families.
 *
 * Node's default process metrics (`collectDefaultMetrics`) are deliberately not collected:
 * they keep an event-loop-delay monitor and a GC observer running for every registry
 * (several per process in tests), read `/proc` on every scrape, and describe only the main
 * process, not the sandbox processes. Process-level figures are better taken from the
 * host (node_exporter, cAdvisor). Were they wanted, the call is
 * `collectDefaultMetrics({ register: registry, prefix: 'registrar_' })`.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  new Counter({
    name: 'registrar_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not keep up and the log buffer was full.',
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(droppedLogLines());
    },
  });
  return registry;
}
