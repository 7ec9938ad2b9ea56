import { createServer, type Server, Socket } from 'node:net';
import { listen } from './ports.js';

/** A loopback TCP proxy to a service (Redis, PostgreSQL) that a test can stop (cutting every connection) and restart. */
export function tcpProxy(host: string, port: number) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    async start(listenPort: number): Promise<number> {
      server = createServer((client) => {
        const upstream = new Socket();
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        upstream.connect(port, host, () => {
          client.pipe(upstream);
          upstream.pipe(client);
        });
      });
      return listen(server, listenPort);
    },
    async stop(): Promise<void> {
      const closing = server;
      server = undefined;
      for (const s of sockets) s.destroy();
      if (closing?.listening) await new Promise((resolve) => closing.close(resolve));
    },
  };
}
