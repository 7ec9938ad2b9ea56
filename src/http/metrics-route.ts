import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/**
 * `GET /metrics`: the node's metrics in the Prometheus text format (per-IdP outbound
 * calls, script executions, sandbox processes and queues). Public, like /healthz: bind
 * the server to a private interface or filter the path at the proxy when that matters.
 */
export async function metricsRoute(app: FastifyInstance, deps: { metrics: Registry }): Promise<void> {
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
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.metrics()),
  );
}
