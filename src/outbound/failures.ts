/**
 * Turns what can go wrong during one outbound exchange (undici, socket, TLS, DNS and
 * egress-lookup errors) into script-facing OutboundErrors naming the origin at most.
 */
import { EGRESS_REFUSED } from './policy.js';
import { OutboundError } from './types.js';

const PREFIX = 'HTTP.request:';

/** Where a failure happened, for the message and the kind. */
export interface FailureContext {
  /** The origin (`scheme://host[:port]`) being talked to. */
  readonly origin: string;
  /** Set when this exchange follows a redirect: refusals then count as `redirect_refused`. */
  readonly redirectedFrom: string | null;
  /** Whether the call's total-timeout signal has fired. */
  readonly totalTimedOut: boolean;
  readonly totalTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'ENODATA', 'ESERVFAIL']);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

function codeOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code) ? code : null;
}

/** The message of the total-timeout failure. */
function totalTimeoutMessage(origin: string, ms: number): string {
  return `${PREFIX} total timeout: ${origin} did not answer within ${Math.round(ms)} ms (the smaller of timeoutMs and the script's remaining wall time)`;
}

/** Maps any error thrown while talking to `ctx.origin` to an OutboundError. */
export function toOutboundError(error: unknown, ctx: FailureContext): OutboundError {
  if (error instanceof OutboundError) return error;
  if (ctx.totalTimedOut)
    return new OutboundError('timeout', totalTimeoutMessage(ctx.origin, ctx.totalTimeoutMs));
  const code = codeOf(error);
  const host = hostOf(ctx.origin);
  switch (code) {
    case EGRESS_REFUSED: {
      // The checked lookup's message is script-facing already (it names the host and the addresses).
      const message = error instanceof Error ? error.message : `${PREFIX} refused to connect to ${host}`;
      if (ctx.redirectedFrom === null) return new OutboundError('refused', message);
      return new OutboundError(
        'redirect_refused',
        `${PREFIX} redirect from ${ctx.redirectedFrom} refused: ${message.slice(PREFIX.length + 1)}`,
      );
    }
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new OutboundError(
        'timeout',
        `${PREFIX} connect timeout: no connection to ${ctx.origin} within ${ctx.connectTimeoutMs} ms`,
      );
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new OutboundError('timeout', `${PREFIX} read timeout: ${ctx.origin} stopped answering`);
    case 'UND_ERR_HEADERS_OVERFLOW':
      return new OutboundError(
        'too_large',
        `${PREFIX} the response headers from ${ctx.origin} are too large`,
      );
    default:
      break;
  }
  if (code !== null && DNS_CODES.has(code)) {
    return new OutboundError('connect_error', `${PREFIX} could not resolve ${host} (${code})`);
  }
  if (code !== null && TLS_CODE.test(code)) {
    return new OutboundError('connect_error', `${PREFIX} TLS failure talking to ${ctx.origin} (${code})`);
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') {
    return new OutboundError('connect_error', `${PREFIX} ${ctx.origin} closed the connection (${code})`);
  }
  const detail = code === null ? '' : ` (${code})`;
  return new OutboundError('connect_error', `${PREFIX} could not connect to ${ctx.origin}${detail}`);
}

/** The host part of an origin, without brackets or port. */
function hostOf(origin: string): string {
  try {
    const hostname = new URL(origin).hostname;
    return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  } catch {
    return origin;
  }
}
