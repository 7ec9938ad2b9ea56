import type { FastifyInstance } from 'fastify';
import { type MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../metrics/prometheus.js';

/**
 * `GET /metrics`: the node's metrics in the Prometheus text format (per-IdP outbound
 * calls by outcome and their latency). Public, like /healthz: bind the server to a
 * private interface or filter the path at the proxy when that matters.
 */
export async function metricsRoute(app: FastifyInstance, deps: { metrics: MetricsRegistry }): Promise<void> {
  app.get(
    '/metrics',
    {
      config: {
        doc: {
          summary: 'Metrics in the Prometheus text format',
          tags: ['Operations'],
          auth: 'none',
          responses: { 200: { description: 'The metrics (text/plain; version=0.0.4)' } },
        },
      },
    },
    async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(deps.metrics.render()),
  );
}
