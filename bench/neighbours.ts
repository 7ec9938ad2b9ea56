/**
 * The misbehaving neighbours of the "runaway neighbour" scenarios: a slow upstream HTTP
 * server, and callers that keep calling one IdP's backchannel, one request after another
 * each, while the measured route is loaded.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

/** An HTTP server on 127.0.0.1 that answers every request after `delayMs`. */
export async function startSlowUpstream(delayMs: number) {
  const server = createServer((_req, res) => {
    setTimeout(() => res.end('slow'), delayMs);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts `count` callers of `url`, each sending the next request when the last one has
 * answered. `stop()` lets each finish its request in flight and resolves with the tally.
 */
export function startCallers(url: string, headers: Record<string, string>, body: string, count: number) {
  const agent = new Agent({ connections: count, keepAliveTimeout: 60_000 });
  let running = true;
  const tally = { calls: 0, failures: 0 };
  const caller = async () => {
    while (running) {
      try {
        const answer = await request(url, { method: 'POST', headers, body, dispatcher: agent });
        await answer.body.text();
        tally.calls++;
        if (answer.statusCode !== 200) tally.failures++;
      } catch {
        tally.failures++;
      }
    }
  };
  const callers = Array.from({ length: count }, caller);
  return {
    async stop() {
      running = false;
      await Promise.all(callers);
      await agent.close();
      return tally;
    },
  };
}
