/**
 * The server-side client behind scripts' `HTTP.request`: validates the request, enforces the
 * egress policy on every hop (allow-list, then a checked lookup so the socket connects only
 * to an address that passed), the per-IdP concurrency limit, the connect and total timeouts
 * and the response size cap, and records metrics and a call record.
 */
import { Agent } from 'undici';
import { KeyedConcurrencyLimiter } from './concurrency.js';
import { checkedConnector } from './connector.js';
import { type FailureContext, toOutboundError } from './failures.js';
import type { OutboundMetrics } from './metrics.js';
import { createCheckedLookup, type UrlCheck } from './policy.js';
import { type PreparedRequest, prepareRequest, redirectedRequest } from './request-shape.js';
import { discard, flattenHeaders, readCappedBody, settleByAbort } from './response.js';
import {
  type OutboundContext,
  OutboundError,
  type OutboundFailureKind,
  type OutboundLimits,
  type ScriptHttpRequest,
  type ScriptHttpResponse,
} from './types.js';

const PREFIX = 'HTTP.request:';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** setTimeout fires at once for delays above this; longer budgets are capped to it. */
const MAX_TIMER_MS = 2_147_483_647;

type AllowedUrl = Extract<UrlCheck, { ok: true }>;

/** One exchange's result: a response for the script, or a redirect to follow. */
type Exchange =
  | { kind: 'response'; response: ScriptHttpResponse }
  | { kind: 'redirect'; status: number; location: string };

/** The origin and path of a URL, without credentials, query or fragment (for records). */
function recordUrl(text: unknown): string {
  if (typeof text !== 'string') return '(invalid url)';
  try {
    const url = new URL(text);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Outbound HTTP for scripts. One instance per server process; it holds the per-IdP
 * concurrency slots. `request` never throws anything but an OutboundError, whose message is
 * script-facing (it starts with `HTTP.request: ` and names an origin at most: never a header
 * value, a property value or a query string).
 *
 * Connections: every hop gets its own undici Agent (closed when the hop ends), whose
 * connector resolves the host with a checked lookup bound to that hop's allow-list entry.
 * Nothing is pooled across calls, so a connection can never outlive the policy it was
 * checked against (config reloads, another IdP's policy); the price is a fresh TCP/TLS
 * handshake per call.
 *
 * Time: `connect_timeout_ms` bounds each hop's resolution, TCP connect and TLS handshake;
 * the call's total budget, min(`timeoutMs`, time left until `ctx.deadline`), covers
 * everything from the call's start (the FIFO wait for one of the IdP's
 * `max_concurrent_per_idp` slots included: a call still waiting when it runs out fails with
 * `concurrency`) and aborts whatever is in progress, a connection attempt included.
 *
 * Redirects (when `follow_redirects` is on): 301/302/303/307/308 up to `max_redirects`
 * hops; each Location is resolved against the current URL and checked again (allow-list and
 * addresses; a refusal is `redirect_refused`). 303, and 301/302 after a POST, become a GET
 * without body. A cross-origin hop drops Authorization, Cookie and every header whose value
 * came from a `$property`; a property-valued body is never re-sent to another origin.
 *
 * Response headers: lower-case names, repeated values joined with `, ` (`set-cookie` is
 * kept, joined the same way, although cookie dates contain commas).
 */
export class OutboundHttp {
  readonly #limits: OutboundLimits;
  readonly #metrics: OutboundMetrics;
  readonly #slots: KeyedConcurrencyLimiter;

  constructor(limits: OutboundLimits, metrics: OutboundMetrics) {
    this.#limits = limits;
    this.#metrics = metrics;
    this.#slots = new KeyedConcurrencyLimiter(limits.max_concurrent_per_idp);
  }

  /** Slots in use and callers waiting for `idpId` (diagnostics and tests). */
  usage(idpId: string): { active: number; waiting: number } {
    return this.#slots.usage(idpId);
  }

  /**
   * Performs a script's call. The total time (waiting for a slot included) is the smaller of
   * `req.timeoutMs` and what is left until `ctx.deadline`. Metrics and `ctx.record` see every
   * call, successful or not.
   */
  async request(ctx: OutboundContext, req: ScriptHttpRequest): Promise<ScriptHttpResponse> {
    const started = performance.now();
    let status: number | null = null;
    let error: OutboundFailureKind | null = null;
    try {
      const response = await this.#perform(ctx, req, started);
      status = response.status;
      return response;
    } catch (thrown) {
      const failure =
        thrown instanceof OutboundError
          ? thrown
          : new OutboundError('connect_error', `${PREFIX} the request failed`);
      error = failure.kind;
      throw failure;
    } finally {
      const ms = performance.now() - started;
      this.#metrics.observe(ctx.idpId, error ?? 'ok', ms / 1000);
      const method = typeof req.method === 'string' ? req.method.toUpperCase() : '(invalid)';
      try {
        ctx.record?.({ method, url: recordUrl(req.url), status, ms: Math.round(ms), error });
      } catch {
        // A failing record hook must not change the script's result.
      }
    }
  }

  async #perform(ctx: OutboundContext, req: ScriptHttpRequest, started: number): Promise<ScriptHttpResponse> {
    const prepared = prepareRequest(req, ctx.properties);
    const first = ctx.policy.checkUrl(req.url);
    if (!first.ok) throw new OutboundError('refused', first.reason);
    const budget = Math.min(prepared.timeoutMs, ctx.deadline - started);
    const noTimeLeft = () =>
      new OutboundError(
        'timeout',
        `${PREFIX} no time left for a call to ${first.url.origin} (timeoutMs or the script's wall time is used up)`,
      );
    if (!(budget > 0)) throw noTimeLeft();
    const end = started + budget;
    const release = await this.#slots.acquire(ctx.idpId, end);
    if (release === null) {
      throw new OutboundError(
        'concurrency',
        `${PREFIX} too many concurrent calls for this identity provider (limit ${this.#limits.max_concurrent_per_idp}); none finished in time`,
      );
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const remaining = end - performance.now();
      if (!(remaining > 0)) throw noTimeLeft();
      timer = setTimeout(() => controller.abort(), Math.min(remaining, MAX_TIMER_MS));
      return await this.#follow(ctx, prepared, first, controller.signal, budget);
    } finally {
      clearTimeout(timer);
      release();
    }
  }

  async #follow(
    ctx: OutboundContext,
    prepared: PreparedRequest,
    first: AllowedUrl,
    signal: AbortSignal,
    budget: number,
  ): Promise<ScriptHttpResponse> {
    let target = first;
    let request = prepared;
    let redirectedFrom: string | null = null;
    for (let hops = 0; ; hops += 1) {
      const failure = (): FailureContext => ({
        origin: target.url.origin,
        redirectedFrom,
        totalTimedOut: signal.aborted,
        totalTimeoutMs: budget,
        connectTimeoutMs: this.#limits.connect_timeout_ms,
      });
      const exchange = await this.#exchange(ctx, target, request, signal).catch((error: unknown) => {
        throw toOutboundError(error, failure());
      });
      if (exchange.kind === 'response') return exchange.response;
      const from = target.url.origin;
      if (hops >= this.#limits.max_redirects) {
        throw new OutboundError(
          'redirect_refused',
          `${PREFIX} too many redirects (more than ${this.#limits.max_redirects}) starting at ${first.url.origin}`,
        );
      }
      let next: URL;
      try {
        next = new URL(exchange.location, target.url);
      } catch {
        throw new OutboundError(
          'redirect_refused',
          `${PREFIX} ${from} sent a redirect with an invalid Location`,
        );
      }
      next.hash = '';
      const check = ctx.policy.checkUrl(next.href);
      if (!check.ok) {
        throw new OutboundError(
          'redirect_refused',
          `${PREFIX} redirect from ${from} refused: ${check.reason.slice(PREFIX.length + 1)}`,
        );
      }
      const crossOrigin = check.url.origin !== from;
      const nextRequest = redirectedRequest(request, exchange.status, crossOrigin);
      if (nextRequest === null) {
        throw new OutboundError(
          'redirect_refused',
          `${PREFIX} redirect from ${from} to ${check.url.origin} refused: it would re-send a property-valued body to another origin`,
        );
      }
      request = nextRequest;
      target = check;
      redirectedFrom = from;
    }
  }

  /** One request/response on a fresh Agent whose connector only reaches checked addresses. */
  async #exchange(
    ctx: OutboundContext,
    target: AllowedUrl,
    request: PreparedRequest,
    signal: AbortSignal,
  ): Promise<Exchange> {
    const lookup = createCheckedLookup(ctx.policy, target.matched, ctx.resolve);
    const agent = new Agent({ connect: checkedConnector(this.#limits.connect_timeout_ms, lookup, signal) });
    try {
      const headers: Record<string, string> = Object.create(null);
      for (const header of request.headers) headers[header.name] = header.value;
      const response = await settleByAbort(
        agent.request({
          origin: target.url.origin,
          path: `${target.url.pathname}${target.url.search}`,
          method: request.method,
          headers,
          body: request.body ?? null,
          signal,
        }),
        signal,
      );
      const location = response.headers.location;
      if (
        this.#limits.follow_redirects &&
        REDIRECT_STATUSES.has(response.statusCode) &&
        typeof location === 'string'
      ) {
        discard(response.body);
        return { kind: 'redirect', status: response.statusCode, location };
      }
      // A HEAD answer has no body, whatever its Content-Length says.
      let body = '';
      if (request.method === 'HEAD') discard(response.body);
      else body = await readCappedBody(response, this.#limits.max_response_bytes, target.url.origin);
      return {
        kind: 'response',
        response: { status: response.statusCode, headers: flattenHeaders(response.headers), body },
      };
    } finally {
      agent.destroy().catch(() => {});
    }
  }
}
