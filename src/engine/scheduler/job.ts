import type { ScriptLimits } from '../../config/schema.js';
import type { ScriptHttpRequest } from '../../outbound/types.js';
import type { IdpShare } from '../limits.js';
import type { CacheEntry, ExecOutcome, HttpResult, ScriptArgs, ScriptRef } from '../protocol.js';
import type { Tenant } from './fair-queues.js';

/** An execution's outbound calls: the sandbox asks, `call` (the server's client) answers. */
export interface JobHttp {
  maxRequests: number;
  call: (request: ScriptHttpRequest) => Promise<HttpResult>;
}

/** An execution waiting for, or running in, a sandbox process. */
export interface Job {
  /** Whose queue it waits in and whose share it counts against. */
  tenant: Tenant;
  script: Required<ScriptRef>;
  limits: ScriptLimits;
  share: IdpShare;
  args: ScriptArgs;
  /** A dry run's scratch CACHE seed. */
  scratch?: CacheEntry[];
  /** A dry run's property overrides. */
  properties?: Record<string, string>;
  /** Report what the execution reads (its IdP records executions). */
  record?: true;
  /** Outbound calls: allowed, how many, and who makes them. */
  http?: JobHttp;
  enqueued: number;
  /** When it left its queue for a sandbox process (the last time, when it was queued again). */
  dispatched: number;
  /** It has been sent to a process at least once. */
  dispatchedOnce?: boolean;
  resolve: (outcome: ExecOutcome) => void;
  /** Fails the job at its wall-time limit while it waits in its queue. */
  queueTimer?: NodeJS.Timeout | undefined;
}

/** A synchronous execution's time budget: the tighter of its CPU and wall limits (it has no waits of its own). */
export const syncBudgetMs = (job: Job): number => Math.min(job.limits.cpu_time_ms, job.limits.wall_time_ms);
