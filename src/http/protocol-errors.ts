/**
 * Errors that never reach a route: the router's (bad percent-encoding, an over-long
 * path parameter) and Node's HTTP parser's (oversized headers, malformed framing,
 * timeouts, CONNECT). They get the one error shape and headers like any other answer,
 * and `Connection: close` when the connection is closed after them.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistrarError, wireCode } from '../errors.js';
import { logRejection, sendJson, toRegistrarError } from './errors.js';

/**
 * The longest path parameter the router matches, in characters as it sees them
 * (decoded, except reserved characters such as `/`, which stay percent-encoded): the
 * longest identifier, 255 UTF-8 bytes all reserved, is 765. Longer is 414.
 */
export const MAX_PARAM_LENGTH = 768;

/** How long a rejected connection keeps draining what the client still sends before it is dropped. */
const LINGER_MS = 1000;

/**
 * Fastify's `frameworkErrors`: the router could not match the URL (FST_ERR_BAD_URL,
 * FST_ERR_MAX_PARAM_LENGTH). No hook has run, so the usual headers are set here.
 * The connection stays usable: the request was read in full.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const mapped = fromFrameworkError(error);
  reply.header('x-request-id', request.id).header('cache-control', 'no-store').header('pragma', 'no-cache');
  logRejection(request.log, mapped, error);
  sendJson(reply, mapped.toBody(), mapped.status);
}

function fromFrameworkError(error: FastifyError): RegistrarError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new RegistrarError('invalid_request', 'the URL path is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new RegistrarError(
        'uri_too_long',
        `a path segment is longer than ${MAX_PARAM_LENGTH} characters`,
      );
    default:
      return toRegistrarError(error);
  }
}

/** Connections already answered: the parser reports each later chunk as the same error again. */
const answered = new WeakSet<Socket>();

/**
 * Fastify's `clientErrorHandler` (the server's `clientError` event): Node's parser
 * rejected what the client sent, so there is no request object. The answer is
 * written to the socket by hand, in the documented shape with a fresh request id
 * (logged), then the connection is closed (see `answerInTurn` for pipelined requests).
 */
export function clientErrorHandler(
  logger: FastifyBaseLogger,
): (error: ConnectionError, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
    answered.add(socket);
    const mapped = fromParserError(error);
    const requestId = randomUUID();
    logger.info(
      { reqId: requestId, code: error.code, error: wireCode(mapped.kind), status: mapped.status },
      'connection rejected',
    );
    answerInTurn(socket, mapped, requestId);
  };
}

/** The response Node is writing on a socket (its private `_httpMessage`, as `socketOnError` reads it). */
interface PendingResponse {
  headersSent: boolean;
  writableFinished: boolean;
  req?: { complete: boolean };
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

function pendingResponse(socket: Socket): PendingResponse | undefined {
  const message = (socket as Socket & { _httpMessage?: PendingResponse | null })._httpMessage;
  return message && !message.writableFinished ? message : undefined;
}

/**
 * Answers in the order requests came. With no response pending, at once. When the
 * pending response's request was read in full, the bad bytes are a later pipelined
 * request: its answer (and any queued after it) goes first. Otherwise the bad bytes
 * are the pending request's own body: the error is its answer, unless that answer has
 * already started, when another would corrupt it and the socket is only destroyed (as
 * Node does).
 */
function answerInTurn(socket: Socket, error: RegistrarError, requestId: string): void {
  const pending = pendingResponse(socket);
  if (pending?.req?.complete) {
    let done = false;
    const next = () => {
      if (done) return;
      done = true;
      answerInTurn(socket, error, requestId);
    };
    pending.once('finish', next);
    pending.once('close', next);
  } else if (pending?.headersSent) {
    socket.destroy();
  } else {
    refuseConnection(socket, error, requestId);
  }
}

function fromParserError(error: ConnectionError): RegistrarError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new RegistrarError('header_too_large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new RegistrarError('request_too_large', 'the chunk extensions are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RegistrarError('request_timeout');
    default: {
      // llhttp's reasons are fixed texts ("Content-Length can't be present with Transfer-Encoding").
      const reason = (error as { reason?: unknown }).reason;
      const detail = typeof reason === 'string' && reason ? `: ${reason}` : '';
      return new RegistrarError('invalid_request', `the request is not valid HTTP/1.1${detail}`);
    }
  }
}

/**
 * Answers on a raw socket and closes it: the answer and a FIN first, then whatever
 * the client still sends is read and dropped for a moment, so that unread bytes do
 * not turn the close into a reset that could destroy the answer before it is read.
 */
export function refuseConnection(socket: Socket, error: RegistrarError, requestId: string): void {
  if (socket.writable) socket.end(rawAnswer(error, requestId));
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** A complete HTTP/1.1 error response, with the usual headers and `Connection: close`. */
function rawAnswer(error: RegistrarError, requestId: string): string {
  const body = JSON.stringify(error.toBody());
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'Content-Type: application/json;charset=UTF-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Pragma: no-cache',
    `X-Request-Id: ${requestId}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
