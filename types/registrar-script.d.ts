/**
 * The globals and the `execute` signature of a Registrar script, for editors and for
 * type-checking scripts (`tsc -p tsconfig.scripts.json` checks examples/scripts).
 * Scripts are plain JavaScript files; reference this file with
 * `/// <reference path="registrar-script.d.ts" />` or list it in a jsconfig.json.
 */

/** A JSON-serialisable value, as CACHE stores it. */
type RegistrarJson = string | number | boolean | null | RegistrarJson[] | { [key: string]: RegistrarJson };

/** What `execute` returns. */
interface RegistrarScriptResult {
  /** 2000–2999 success, 4000–4999 failed but retryable, 5000–5999 failed, start over. */
  status: number;
  /** Sent to the caller as `data`; a non-string value is sent as its JSON text. */
  responsePayload?: unknown;
  /** init: kept in the transaction and given to the complete script. */
  registrationData?: unknown;
  /** complete: the registered user; `id` is required for tokens. */
  user?: { id: string; amr?: string[]; [attribute: string]: unknown };
}

/**
 * The function every script defines.
 * @param requestPayload the caller's `data`, exactly as sent, or null
 * @param userIdentifier null in this version
 * @param registrationData complete: what init returned as `registrationData`
 * @param hookContextCustomParams complete: the request's `hook_context_custom_params`
 */
type RegistrarExecute = (
  requestPayload: string | null,
  userIdentifier: string | null,
  registrationData: string | null,
  hookContextCustomParams: Record<string, string[]> | null,
) => RegistrarScriptResult | Promise<RegistrarScriptResult>;

/** The installation-wide cache, shared by every script. */
declare const CACHE: {
  /** Stores `value` for `ttlSeconds` (default 300). Keys ≤ 1 KiB, values ≤ 64 KiB as JSON. */
  store(key: string, value: RegistrarJson | undefined, ttlSeconds?: number): void;
  /** The value as stored, or null when absent or expired. */
  fetch(key: string): RegistrarJson;
  /** Removes the entry; true when a live one was removed. */
  delete(key: string): boolean;
  /**
   * Adds `delta` (an integer, default 1) to the integer under `key` and returns the new
   * value, atomically across executions, sandbox processes and nodes: of 200 concurrent
   * increments none is lost. An absent or expired key starts at `delta` and lives
   * `ttlSeconds` (default 300, at most 1 day); a live one keeps its expiry (the TTL is set
   * only on creation). `CACHE.fetch(key)` reads the count as a number. Unlike `store`, the
   * increment is made and committed at once (a failing script does not undo it). Throws
   * when the live value is not an integer, or the key was stored by this same execution.
   * @example
   * var attempts = CACHE.increment('otp-attempts:' + email, 1, 900);
   * if (attempts > 5) return { status: 4001 };
   */
  increment(key: string, delta?: number, ttlSeconds?: number): number;
};

/** What `RATE.take` says about one call. */
interface RegistrarRateVerdict {
  /** True while the window's count, this call included, is at most the limit. */
  readonly allowed: boolean;
  /** Calls left in this window after this one (0 when denied). */
  readonly remaining: number;
  /** Whole seconds until the window ends and the count starts again (at least 1). */
  readonly resetSeconds: number;
}

/** Rate limits for scripts, counted in the CACHE so every node shares them. */
declare const RATE: {
  /**
   * Counts one call under `key` in a fixed window of `windowSeconds` (windows start at
   * multiples of it since the Unix epoch, the same on every node) and says whether it is
   * within `limit`. A denied call is counted too, which changes nothing: the window ends
   * at the same time. `limit`: an integer from 1 to 10^9; `windowSeconds`: an integer
   * from 1 to 86400. The count lives in the CACHE under `RATE:<windowSeconds>:<window>:<key>`.
   * @example
   * var rate = RATE.take('qr:' + userId, 5, 60);
   * if (!rate.allowed) return { status: 4290, responsePayload: JSON.stringify({ retry_after: rate.resetSeconds }) };
   */
  take(key: string, limit: number, windowSeconds: number): RegistrarRateVerdict;
};

/** SLF4J-style logging: each `{}` takes the next argument. */
declare const LOG: {
  trace(message: unknown, ...args: unknown[]): void;
  debug(message: unknown, ...args: unknown[]): void;
  info(message: unknown, ...args: unknown[]): void;
  warn(message: unknown, ...args: unknown[]): void;
  error(message: unknown, ...args: unknown[]): void;
  isTraceEnabled(): boolean;
  isDebugEnabled(): boolean;
  isInfoEnabled(): boolean;
};

/** Installation properties (URLs, API keys). */
declare const PROPERTIES: { get(id: string): string | null };

/** A header value or body: text, or a property the server fills in without the script seeing it. */
type RegistrarHttpValue = string | { $property: string };

interface RegistrarHttpOptions {
  /** `GET` by default (`POST` for `HTTP.json` with a body). */
  method?: string;
  url: string;
  headers?: Record<string, RegistrarHttpValue>;
  /** The call's own timeout; it never outlives the execution's wall time. */
  timeoutMs?: number;
}

/**
 * Outbound calls, only to hosts on the installation's or the IdP's allow-list (never
 * to private, loopback or metadata addresses unless named). Synchronous for the
 * script; the wait counts against the wall-time limit, not the CPU limit. Failures
 * (refused, timeout, too large, connection errors) throw an Error naming the cause.
 */
declare const HTTP: {
  request(
    options: RegistrarHttpOptions & { body?: RegistrarHttpValue },
  ): { status: number; headers: Record<string, string>; body: string };
  /** Sends `body` as JSON (when given) and parses the response body as JSON (null when empty). */
  json(options: RegistrarHttpOptions & { body?: unknown }): {
    status: number;
    headers: Record<string, string>;
    body: unknown;
  };
};

/** `LOG.info` of its arguments joined by spaces (Nashorn's print). */
declare function print(...values: unknown[]): void;

/** Nashorn compatibility: only java.util.UUID is available. */
declare const java: {
  util: { UUID: { randomUUID(): { toString(): string }; fromString(text: string): { toString(): string } } };
};
declare const Java: { type(name: 'java.util.UUID'): typeof java.util.UUID };

/** Java-string methods Nashorn scripts call on strings. */
interface String {
  equals(other: unknown): boolean;
  equalsIgnoreCase(other: unknown): boolean;
  isEmpty(): boolean;
  contains(part: string): boolean;
  matches(regex: string): boolean;
}
