/**
 * What stands between a presented client secret and scrypt: the failure throttle (per client
 * id and per source address) and the bounded queue of slow verifications. Refusals happen
 * before any hashing and without looking at the secret, so they answer in constant time.
 */
import type { AuthFailureKind, AuthMetrics } from '../metrics/auth.js';
import { AuthThrottle, addressKey, type ThrottleReason } from './auth-throttle.js';
import { BoundedWork, WorkShedError } from './bounded-work.js';
import { verifySecret } from './secret-hash.js';

/** Why an attempt is answered `invalid_client` without checking its secret. */
export type RefusalReason = ThrottleReason | 'queue_full';

/** Thrown by `slowVerify` (and so by a credential check) when the attempt was refused unchecked. */
export class AuthRefusedError extends Error {
  constructor(readonly reason: RefusalReason) {
    super(`authentication refused unchecked: ${reason}`);
    this.name = 'AuthRefusedError';
  }
}

/** One authentication attempt: who it is counted against. */
export interface AuthAttempt {
  /** The presented client id, prefixed by the kind of client (API clients and applications are distinct). */
  readonly clientKey: string;
  /** The caller's address, when known. */
  readonly address: string | undefined;
}

/** The settings, as in the `server` section of the configuration. */
export interface AuthGuardSettings {
  readonly scrypt_concurrency: number;
  readonly scrypt_queue: number;
  readonly auth_failures_per_client: number;
  readonly auth_failures_per_address: number;
  readonly auth_failure_window_seconds: number;
  readonly auth_failure_tracked_keys: number;
}

/** Test hooks of AuthGuard. */
export interface AuthGuardOptions {
  /** The clock of the throttle. */
  now?: () => number;
  /** The slow verification itself (default: scrypt). */
  verify?: (secret: string, hash: string) => Promise<boolean>;
}

/**
 * One per process, shared by every authenticator. `slowVerify` is what the credential caches
 * call on a miss: it runs scrypt through the bounded queue (`scrypt_concurrency` at once,
 * `scrypt_queue` waiting, callers' addresses served in turn, the rest refused with
 * `queue_full`), each verification counted against the throttle of the attempt it serves
 * while it runs.
 */
export class AuthGuard {
  readonly #work: BoundedWork;
  readonly #throttle: AuthThrottle;
  readonly #metrics: AuthMetrics;
  readonly #verify: (secret: string, hash: string) => Promise<boolean>;
  /**
   * Attempts whose credential check is under way, by stored hash and presented secret: a
   * slow verification is counted against the first of them. Entries live only as long as
   * the check, in this process's memory, like the request that carries the secret.
   */
  readonly #checking = new Map<string, AuthAttempt[]>();

  constructor(settings: AuthGuardSettings, metrics: AuthMetrics, options: AuthGuardOptions = {}) {
    this.#work = new BoundedWork(settings.scrypt_concurrency, settings.scrypt_queue);
    this.#throttle = new AuthThrottle(
      {
        perClient: settings.auth_failures_per_client,
        perAddress: settings.auth_failures_per_address,
        windowMs: settings.auth_failure_window_seconds * 1000,
        maxKeys: settings.auth_failure_tracked_keys,
      },
      options.now,
    );
    this.#metrics = metrics;
    this.#verify = options.verify ?? verifySecret;
    metrics.setHashUsage(() => this.#work.usage());
  }

  /** The slow verification for a credential cache: throttled, queued, bounded. */
  readonly slowVerify = (secret: string, hash: string): Promise<boolean> => {
    const attempt = this.#checking.get(checkingKey(hash, secret))?.[0];
    const reservation = attempt && this.#throttle.reserve(attempt.clientKey, attempt.address);
    if (typeof reservation === 'string') return Promise.reject(new AuthRefusedError(reservation));
    // Waiting verifications take turns by caller: a flood from one address queues behind itself.
    const turn =
      attempt === undefined
        ? ''
        : attempt.address === undefined
          ? attempt.clientKey
          : addressKey(attempt.address);
    return this.#work
      .run(() => this.#verify(secret, hash), turn)
      .then(
        (ok) => {
          reservation?.release();
          return ok;
        },
        (error: unknown) => {
          reservation?.release();
          throw error instanceof WorkShedError ? new AuthRefusedError('queue_full') : error;
        },
      );
  };

  /** Why `attempt` is refused before anything else is done, or null (a refusal is counted). */
  admit(attempt: AuthAttempt): RefusalReason | null {
    const reason = this.#throttle.check(attempt.clientKey, attempt.address);
    if (reason !== null) this.#metrics.refused(reason);
    return reason;
  }

  /**
   * Runs `check` (a credential check of `secret` against `hash`, whose slow path is
   * `slowVerify`) on behalf of `attempt`. Rejects with an AuthRefusedError (counted) when
   * the slow verification was refused.
   */
  async check<R>(attempt: AuthAttempt, secret: string, hash: string, check: () => Promise<R>): Promise<R> {
    const key = checkingKey(hash, secret);
    const attempts = this.#checking.get(key) ?? [];
    attempts.push(attempt);
    this.#checking.set(key, attempts);
    try {
      return await check();
    } catch (error) {
      if (error instanceof AuthRefusedError) this.#metrics.refused(error.reason);
      throw error;
    } finally {
      attempts.splice(attempts.indexOf(attempt), 1);
      if (attempts.length === 0 && this.#checking.get(key) === attempts) this.#checking.delete(key);
    }
  }

  /** Records a failed secret check of `attempt`. */
  failed(attempt: AuthAttempt, kind: AuthFailureKind): void {
    this.#throttle.fail(attempt.clientKey, attempt.address);
    this.#metrics.failure(kind);
  }
}

function checkingKey(hash: string, secret: string): string {
  return `${hash}\0${secret}`;
}
