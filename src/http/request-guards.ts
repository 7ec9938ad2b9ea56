import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistrarError } from '../errors.js';
import { refuseConnection } from './protocol-errors.js';

/** Node's own test for a 100-continue expectation (`_http_server.js`). */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** True when the comma-separated header lists `token` (case-insensitive). */
function listsToken(header: string | undefined, token: string): boolean {
  return header?.split(',').some((part) => part.trim().toLowerCase() === token) ?? false;
}

/**
 * Requests Node would answer (or leave hanging) on its own, turned into documented
 * errors. Runs as an onRequest hook, after the one that sets the usual headers.
 */
async function guard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { headers } = request;
  if (headers.upgrade !== undefined && listsToken(headers.connection, 'upgrade')) {
    // Node leaves its parser in upgrade mode after such a request: nothing more can be read.
    reply.header('connection', 'close');
    throw new RegistrarError('invalid_request', 'protocol upgrades are not supported');
  }
  if (headers.expect !== undefined && !CONTINUE.test(headers.expect)) {
    throw new RegistrarError('expectation_failed', 'the only expectation this server meets is 100-continue');
  }
  if (headers.host === undefined && request.raw.httpVersion === '1.1') {
    reply.header('connection', 'close');
    throw new RegistrarError('invalid_request', 'an HTTP/1.1 request needs a Host header');
  }
}

/**
 * Gives the requests Node's HTTP server would answer by itself the documented error
 * shape: an `Expect` other than 100-continue (Node: a bare 417), CONNECT (Node: the
 * connection dropped without an answer), an upgrade (Registrar has none; Node's
 * parser would swallow everything after it), an HTTP/1.1 request without `Host`
 * (Node: a bare 400; the app's `http.requireHostHeader` must be false). All but the
 * `Expect` answer close the connection.
 */
export function installRequestGuards(app: FastifyInstance, logger: FastifyBaseLogger): void {
  // With a listener, Node hands such requests over instead of answering; the hook answers them.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  app.server.on('connect', (_req, socket: Socket) => {
    const requestId = randomUUID();
    logger.info({ reqId: requestId, error: 'invalid_request' }, 'CONNECT refused');
    refuseConnection(socket, new RegistrarError('invalid_request', 'CONNECT is not supported'), requestId);
  });
  app.addHook('onRequest', guard);
}
