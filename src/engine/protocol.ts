import type { EngineConfig, ScriptLimits } from '../config/schema.js';
import type { ScriptHttpRequest, ScriptHttpResponse } from '../outbound/types.js';
import type { SandboxRedisOptions } from '../storage/open.js';

/** The `execute` arguments, in order: requestPayload, userIdentifier, registrationData, hookContextCustomParams. */
export type ScriptArgs = [string | null, string | null, string | null, Record<string, string[]> | null];

/** What a script returned, normalised inside the sandbox. */
export interface ScriptResult {
  status: number;
  /** Absent when the script returned none; a non-string payload arrives as its JSON text. */
  responsePayload?: string;
  registrationData?: string;
  user?: unknown;
}

export type FailureKind =
  | 'exception'
  | 'no_execute'
  | 'invalid_result'
  | 'cpu_timeout'
  | 'wall_timeout'
  | 'out_of_memory'
  | 'sandbox_crashed'
  | 'sandbox_unavailable'
  | 'queue_timeout'
  | 'cache_unavailable';

export interface ScriptFailure {
  kind: FailureKind;
  message: string;
  line: number | null;
}

export interface ScriptLogLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** A CACHE.store a script made: key, value (JSON text), TTL in ms. */
export type CacheWrite = [key: string, value: string, ttlMs: number];

/** A CACHE entry of a dry run's scratch cache: key, value (JSON text), remaining TTL in ms. */
export type CacheEntry = CacheWrite;

export type ExecOutcome = (
  | {
      ok: true;
      result: ScriptResult;
      /** The execution's CACHE stores, for the server to commit before it answers. */
      cacheWrites?: CacheWrite[];
    }
  | { ok: false; error: ScriptFailure }
) & {
  logs: ScriptLogLine[];
  /** Log lines the script wrote past the per-execution cap. */
  dropped: number;
  cpuMs: number;
  wallMs: number;
  /** How long the execution waited in its IdP's queue (set by the supervisor). */
  queueMs?: number;
  /** A dry run's scratch CACHE afterwards (with its stores when the script returned). */
  scratch?: CacheEntry[];
  /** What the execution read, when its message asked (`record`): for recordings and their replay. */
  reads?: ExecReads;
};

/**
 * What an execution read from outside its arguments: each CACHE key it fetched from the
 * CACHE (not its own stores) with the value it got (JSON text, or null when absent), and
 * each property id it read with its value (null when unset). The first read of each counts.
 */
export interface ExecReads {
  cache: Record<string, string | null>;
  properties: Record<string, string | null>;
  /** The outbound calls it made (method and URL) and what each got, in order; absent when none. */
  http?: RecordedHttpCall[];
}

/** One outbound call of a recorded execution: its method and URL, and its answer. */
export interface RecordedHttpCall {
  method: string;
  url: string;
  result: HttpResult;
}

/** Isolates one script may have in one process, for asynchronous executions that overlap while waiting on upstreams. */
export const MAX_SLOTS_PER_SCRIPT = 32;
/** Asynchronous executions one process hosts at once (most of them waiting on outbound calls). */
export const MAX_ASYNC_PER_PROCESS = 64;

/** Identifies one compiled script: one IdP, one kind, one version, one memory limit. */
export interface ScriptRef {
  key: string;
  filename: string;
  /** Sent the first time a sandbox process sees the key, and again when it asks. */
  source?: string;
}

export interface InitMessage {
  t: 'init';
  /** The real CACHE; null when there is none (a local `registrar script test`: dry runs only). */
  cacheUrl: string | null;
  /** Connection settings when `cacheUrl` is a Redis URL. */
  cacheRedis?: SandboxRedisOptions;
  cache: EngineConfig['cache'];
  log: EngineConfig['log'];
  properties: Record<string, string>;
}

export interface ExecMessage {
  t: 'exec';
  id: number;
  script: ScriptRef;
  limits: ScriptLimits;
  args: ScriptArgs;
  /** Present for a dry run: the seed of its scratch CACHE, used instead of the real one. */
  scratch?: CacheEntry[];
  /** A dry run's property overrides: these ids read these values (the others, the installation's). */
  properties?: Record<string, string>;
  /** Report what the execution reads (`ExecOutcome.reads`): the IdP records executions. */
  record?: true;
  /**
   * Present when the IdP may make outbound calls: the execution then runs
   * asynchronously (so `HTTP.request` can wait without holding the process), under a
   * wall-clock timeout and a CPU-time watchdog.
   */
  http?: { maxRequests: number };
  /**
   * Set when the process is demoted (lowest priority, paused at times under contention):
   * the execution then runs on isolated-vm's thread under its wall-time limit, and the
   * server watches the process's CPU time and cancels it past the CPU limit (isolated-vm
   * would count the pauses as CPU).
   */
  demoted?: true;
}

/** Stops execution `id`: it used up its CPU-time limit (as the server measured it). */
export interface CancelMessage {
  t: 'cancel';
  id: number;
}

export interface PropertiesMessage {
  t: 'properties';
  values: Record<string, string>;
}

/** The answer to a sandbox's outbound call: the response, or a script-facing error message. */
export type HttpResult = { ok: true; response: ScriptHttpResponse } | { ok: false; message: string };

export interface HttpResultMessage {
  t: 'http_result';
  call: number;
  result: HttpResult;
}

export type ParentMessage = InitMessage | ExecMessage | PropertiesMessage | HttpResultMessage | CancelMessage;

/** What travels in one IPC write from the server: a message, or the messages of one event-loop turn in order. */
export type ParentPacket = ParentMessage | ParentMessage[];

export type ChildMessage =
  | { t: 'ready' }
  /** `exiting`: the process exits after this answer (a native call outlived the isolate). */
  | { t: 'result'; id: number; outcome: ExecOutcome; exiting?: true }
  /** Synchronous execution `id` had its script loaded into a fresh isolate and starts running it now. */
  | { t: 'loaded'; id: number }
  /** The process lacks the source of `id`'s script and asks for the execution again with it. */
  | { t: 'need_source'; id: number }
  /** Execution `id` calls `HTTP.request`: the server makes the call (policy, limits, metrics) and answers `call`. */
  | { t: 'http'; id: number; call: number; request: ScriptHttpRequest };

/** What travels in one IPC write from a sandbox process: a message, or several in order. */
export type ChildPacket = ChildMessage | ChildMessage[];
