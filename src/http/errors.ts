import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { RegistrarError, wireCode } from '../errors.js';

export const JSON_CONTENT_TYPE = 'application/json;charset=UTF-8';

/** Sends a JSON answer (a value, or JSON text as is) with the contract's exact Content-Type. */
export function sendJson(reply: FastifyReply, body: unknown, status = 200): FastifyReply {
  return reply
    .code(status)
    .type(JSON_CONTENT_TYPE)
    .send(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Maps anything thrown while handling a request to a registry error. */
export function toRegistrarError(error: unknown): RegistrarError {
  if (error instanceof RegistrarError) return error;
  const e = error as Partial<FastifyError>;
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new RegistrarError('request_too_large');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new RegistrarError('invalid_request', describeClientError(e));
  }
  return new RegistrarError('internal_server_error', undefined, { cause: error });
}

function describeClientError(e: Partial<FastifyError>): string {
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported media type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'the body is not valid JSON';
    default:
      return e.statusCode === 400 && e.message ? e.message : 'bad request';
  }
}

/**
 * Logs an error answer: a 5xx at error level with its cause (unless it was logged
 * where it happened), anything else at info level with the code and description.
 */
export function logRejection(log: FastifyBaseLogger, mapped: RegistrarError, error: unknown): void {
  if (mapped.status >= 500 && !mapped.logged) {
    log.error({ err: mapped.cause ?? error }, 'request failed with an internal error');
  } else {
    log.info({ error: wireCode(mapped.kind), description: mapped.description }, 'request rejected');
  }
}

/**
 * Installs the one error path: every error becomes `{error, error_description}` with
 * the registry's status; 5xx answers are generic and their cause is logged with the
 * request id (which the response carries in `X-Request-Id`).
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toRegistrarError(error);
    if (request.audit) request.audit.error = wireCode(mapped.kind);
    logRejection(request.log, mapped, error);
    return sendJson(reply, mapped.toBody(), mapped.status);
  });
  app.setNotFoundHandler((_request, reply) => {
    const error = new RegistrarError('not_found');
    return sendJson(reply, error.toBody(), error.status);
  });
}
