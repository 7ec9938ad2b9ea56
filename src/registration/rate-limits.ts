/**
 * The declarative rate limits of an IdP (`identity_providers[].rate_limits`), checked by
 * the backchannel, init and complete routes after the IdP checks and before the script
 * runs. Each rule is a fixed window: at most `limit` calls in each window of
 * `window_seconds` that starts at a multiple of it since the Unix epoch, counted with one
 * atomic increment in the CACHE backend (SQLite file or Redis), so every node shares the
 * count and the limit is exact across nodes.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { RateLimitRule } from '../config/schema.js';
import { counterTtlMs, fixedWindow, verdict } from '../engine/sandbox/rate-window.js';
import { RegistrarError } from '../errors.js';
import { addressKey } from '../security/auth-throttle.js';
import type { CounterStore, IdentityProviderRecord } from '../storage/types.js';

/** The endpoint a rule guards. */
export type RateLimitedEndpoint = RateLimitRule['endpoint'];

/** Who is calling: the authenticated API client (backchannel) or application (init, complete). */
export interface RateLimitCaller {
  client?: string;
  application?: string;
}

const METRIC = 'registrar_rate_limited_total';

/** Checks the declarative limits; one per app, sharing the app's metrics registry. */
export class RateLimiter {
  readonly #rejected: Counter<'idp' | 'endpoint' | 'per'>;

  constructor(
    private readonly counters: CounterStore,
    registry: Registry,
    private readonly now: () => number = Date.now,
  ) {
    const existing = registry.getSingleMetric(METRIC) as Counter<'idp' | 'endpoint' | 'per'> | undefined;
    this.#rejected =
      existing ??
      new Counter({
        name: METRIC,
        help: 'Calls answered 429 too_many_requests by a declarative rate limit, by IdP, endpoint and what it counts per.',
        labelNames: ['idp', 'endpoint', 'per'],
        registers: [registry],
      });
  }

  /**
   * Counts this call against every rule of `idp` for `endpoint`; when one is used up,
   * sets `Retry-After` and throws `too_many_requests`. Denied calls are counted too (the
   * window is fixed, so that changes nothing but the count). When the counters cannot be
   * reached the call goes on (logged): the limits never take an IdP down with the CACHE.
   */
  async check(
    request: FastifyRequest,
    reply: FastifyReply,
    idp: IdentityProviderRecord,
    endpoint: RateLimitedEndpoint,
    caller: RateLimitCaller,
  ): Promise<void> {
    const rules = idp.rate_limits;
    if (!rules) return;
    for (const rule of rules) {
      if (rule.endpoint !== endpoint) continue;
      const subject = subjectOf(rule, request, caller);
      if (subject === undefined) continue;
      const now = this.now();
      const { index, endsAt } = fixedWindow(now, rule.window_seconds);
      const key = JSON.stringify([idp.id, endpoint, rule.per, rule.window_seconds, index, subject]);
      const count = await this.count(key, counterTtlMs(now, endsAt), request.log);
      if (count === null) continue;
      const result = verdict(count, rule.limit, now, endsAt);
      if (!result.allowed) {
        this.#rejected.inc({ idp: idp.id, endpoint, per: rule.per });
        reply.header('retry-after', String(result.resetSeconds));
        throw new RegistrarError(
          'too_many_requests',
          `at most ${rule.limit} ${endpoint} calls per ${rule.per} in ${rule.window_seconds} s; try again in ${result.resetSeconds} s`,
        );
      }
    }
  }

  private async count(key: string, ttlMs: number, log: FastifyBaseLogger): Promise<number | null> {
    try {
      return await this.counters.increment(key, 1, ttlMs);
    } catch (err) {
      log.warn({ err }, 'rate-limit counters unavailable; the call is not limited');
      return null;
    }
  }
}

function subjectOf(
  rule: RateLimitRule,
  request: FastifyRequest,
  caller: RateLimitCaller,
): string | undefined {
  switch (rule.per) {
    case 'client':
      return caller.client;
    case 'application':
      return caller.application;
    case 'address':
      return addressKey(request.ip);
  }
}
