import type { PropertySnapshot } from '../config/apply.js';
import type { EngineConfig, ScriptKind, ScriptLimits } from '../config/schema.js';
import type { Logger } from '../logging.js';
import type { OutboundHttp } from '../outbound/client.js';
import type { EgressPolicy } from '../outbound/policy.js';
import { type OutboundCallRecord, type OutboundContext, OutboundError } from '../outbound/types.js';
import type { SandboxRedisOptions } from '../storage/open.js';
import type { CacheStore, ScriptVersion } from '../storage/types.js';
import { CacheWriter } from './cache-writer.js';
import { nowMs } from './clock.js';
import { engineCapacity, type IdpShare } from './limits.js';
import type { EngineMetrics } from './metrics.js';
import type { CacheEntry, ExecOutcome, RecordedHttpCall, ScriptArgs } from './protocol.js';
import { recordingHttp, replayingHttp } from './recorded-http.js';
import { createRedactor } from './redact.js';
import { type JobHttp, SandboxSupervisor } from './supervisor.js';

export interface ExecuteRequest {
  idpId: string;
  kind: ScriptKind;
  script: ScriptVersion;
  limits: ScriptLimits;
  args: ScriptArgs;
  requestId: string;
  /** Present when the IdP may make outbound calls: its effective egress policy. */
  outbound?: { policy: EgressPolicy; maxRequests: number } | undefined;
  /** The IdP's share of the sandbox capacity; the installation's default when absent. */
  share?: IdpShare | undefined;
  /** Report what the execution reads (`ExecOutcome.reads`): its IdP records executions. */
  record?: boolean | undefined;
}

/**
 * Runs IdP scripts in the sandbox and writes what they log, and why they failed, to
 * the server log tagged with IdP, script kind and request id.
 */
export class ScriptEngine {
  private redact: (text: string) => string;
  private readonly cacheWriter: CacheWriter | null;
  /** Clear-text property values, for outbound calls' `{$property}` references (never for scripts' eyes). */
  private propertyValues: ReadonlyMap<string, string>;

  private constructor(
    private readonly supervisor: SandboxSupervisor,
    private readonly logger: Logger,
    properties: PropertySnapshot,
    cache: CacheStore | null,
    private readonly outbound: OutboundHttp | null,
    private readonly defaultShare: IdpShare,
    private readonly metrics: EngineMetrics | null,
  ) {
    this.redact = createRedactor(properties.sensitive);
    this.propertyValues = new Map(Object.entries(properties.values));
    this.cacheWriter = cache && new CacheWriter(cache);
  }

  /** Starts the sandbox processes. */
  static async start(options: {
    engine: EngineConfig;
    /** The CACHE sandboxes read; null for an engine that only makes dry runs (the CLI). */
    cacheUrl: string | null;
    /** Connection settings when `cacheUrl` is a Redis URL. */
    cacheRedis?: SandboxRedisOptions;
    /** Where the CACHE stores of finished executions are committed. */
    cache: CacheStore | null;
    properties: PropertySnapshot;
    logger: Logger;
    /** Makes scripts' outbound calls; without it `HTTP.request` is refused. */
    outbound?: OutboundHttp;
    /** Where executions, queue waits and sandbox processes are counted. */
    metrics?: EngineMetrics;
  }): Promise<ScriptEngine> {
    const { engine, logger } = options;
    const capacity = engineCapacity(engine);
    const metrics = options.metrics ?? null;
    const supervisor = new SandboxSupervisor({
      capacity,
      logger,
      ...(metrics
        ? {
            events: {
              demotion: (idp) => metrics.demotion(idp),
              processStart: (pool) => metrics.processStart(pool),
              processExit: (cause, idp) => metrics.processExit(cause, idp),
            },
          }
        : {}),
      init: {
        cacheUrl: options.cacheUrl,
        ...(options.cacheRedis ? { cacheRedis: options.cacheRedis } : {}),
        cache: engine.cache,
        log: engine.log,
        properties: options.properties.values,
      },
    });
    await supervisor.start();
    metrics?.setGaugeSource({
      processes: () => supervisor.snapshot().processes,
      queueLengths: () => supervisor.snapshot().queued,
      inFlight: () => supervisor.snapshot().inFlight,
    });
    return new ScriptEngine(
      supervisor,
      logger,
      options.properties,
      options.cache,
      options.outbound ?? null,
      capacity.share,
      metrics,
    );
  }

  get healthy(): boolean {
    return this.supervisor.healthy;
  }

  /** Gives scripts new property values from the next execution on. */
  setProperties(properties: PropertySnapshot): void {
    this.redact = createRedactor(properties.sensitive);
    this.propertyValues = new Map(Object.entries(properties.values));
    this.supervisor.setProperties(properties.values);
  }

  async execute(request: ExecuteRequest): Promise<ExecOutcome> {
    let outcome = await this.run(request);
    if (outcome.ok && outcome.cacheWrites) {
      try {
        if (!this.cacheWriter) throw new Error('this engine has no CACHE');
        await this.cacheWriter.write(outcome.cacheWrites);
      } catch (err) {
        this.logger.error(
          { err, idp: request.idpId, reqId: request.requestId },
          'committing CACHE stores failed',
        );
        outcome = {
          ...outcome,
          ok: false,
          error: {
            kind: 'cache_unavailable',
            message: 'the CACHE stores could not be committed',
            line: null,
          },
        };
      }
    }
    this.log(request, outcome);
    this.metrics?.execution(
      request.idpId,
      request.kind,
      outcomeLabel(outcome),
      outcome.wallMs / 1000,
      outcome.cpuMs / 1000,
      (outcome.queueMs ?? 0) / 1000,
    );
    return outcome;
  }

  /**
   * `value` with every sensitive property value masked: in strings and object keys at
   * any depth, and a number whose digits contain one becomes its masked text.
   */
  mask<T>(value: T): T {
    return maskDeep(value, this.redact) as T;
  }

  /**
   * A dry run: executes `request.script` in the same sandbox and limits, on a scratch
   * CACHE seeded with `scratch` instead of the real one, and in a fresh isolate that is
   * dropped afterwards, so nothing it does reaches real requests. Nothing is written to
   * the server log. The outcome is returned as is: callers show it only through
   * {@link mask}.
   */
  async dryRun(
    request: ExecuteRequest & {
      scratch: CacheEntry[];
      properties?: Record<string, string> | undefined;
      /** A replay: outbound calls are answered from these recorded ones, never from the network. */
      replayHttp?: RecordedHttpCall[] | undefined;
    },
  ): Promise<ExecOutcome & { outbound: OutboundCallRecord[] }> {
    const { idpId, kind, script, limits } = request;
    const calls: OutboundCallRecord[] = [];
    const outcome = await this.supervisor.execute(
      // Dry runs queue apart from the IdP's live traffic: a looping draft cannot take its capacity.
      `dry-run:${idpId}`,
      {
        key: `dry-run:${idpId}/${kind}@${script.sha256}:${limits.memory_mb}`,
        filename: script.filename,
        source: script.source,
      },
      limits,
      request.share ?? this.defaultShare,
      request.args,
      {
        scratch: request.scratch,
        properties: request.properties,
        http: request.replayHttp
          ? replayingHttp(request.replayHttp, (call) => calls.push(call))
          : this.jobHttp(request, (call) => calls.push(call)),
      },
    );
    return { ...outcome, outbound: calls };
  }

  /** How an execution's outbound calls are made, when its IdP may make any. */
  private jobHttp(request: ExecuteRequest, record?: (call: OutboundCallRecord) => void): JobHttp | undefined {
    const { outbound } = request;
    if (!outbound) return undefined;
    const client = this.outbound;
    const context: OutboundContext = {
      idpId: request.idpId,
      policy: outbound.policy,
      deadline: nowMs() + request.limits.wall_time_ms,
      properties: this.propertyValues,
      ...(record ? { record } : {}),
    };
    const log = this.logger;
    return {
      maxRequests: outbound.maxRequests,
      async call(httpRequest) {
        if (!client) return { ok: false, message: 'HTTP.request: outbound calls are not available here' };
        try {
          return { ok: true, response: await client.request(context, httpRequest) };
        } catch (error) {
          if (error instanceof OutboundError) return { ok: false, message: error.message };
          log.error({ err: error, idp: request.idpId, reqId: request.requestId }, 'outbound call failed');
          return { ok: false, message: 'HTTP.request: the call failed' };
        }
      },
    };
  }

  private async run(request: ExecuteRequest): Promise<ExecOutcome> {
    const { idpId, kind, script, limits } = request;
    let http = this.jobHttp(request);
    // A recorded execution keeps its outbound calls and their answers, for replay.
    const calls: RecordedHttpCall[] | undefined = http && request.record ? [] : undefined;
    if (http && calls) http = recordingHttp(http, calls);
    const outcome = await this.supervisor.execute(
      idpId,
      {
        // One compiled script (and its globals) per IdP, kind, version and heap size.
        key: `${idpId}/${kind}@${script.sha256}:${limits.memory_mb}`,
        filename: script.filename,
        source: script.source,
      },
      limits,
      request.share ?? this.defaultShare,
      request.args,
      { http, record: request.record },
    );
    if (calls && calls.length > 0)
      outcome.reads = { cache: {}, properties: {}, ...outcome.reads, http: calls };
    return outcome;
  }

  /** Writes the script's log lines and, for a failure, its cause, tagged with the request. */
  private log(request: ExecuteRequest, outcome: ExecOutcome): void {
    const { idpId, kind } = request;
    if (outcome.ok && outcome.logs.length === 0 && outcome.dropped === 0) return;
    const log = this.logger.child({ idp: idpId, script_kind: kind, reqId: request.requestId });
    // Script-made text may quote a sensitive property: mask before it reaches the log.
    for (const line of outcome.logs) log[line.level]({ source: 'script' }, this.redact(line.message));
    if (outcome.dropped > 0)
      log.warn(`script log lines dropped past the per-execution cap: ${outcome.dropped}`);
    if (!outcome.ok) {
      const failure = { ...outcome.error, message: this.redact(outcome.error.message) };
      log.error(
        { failure, cpu_ms: round(outcome.cpuMs), wall_ms: round(outcome.wallMs) },
        `script failed (${failure.kind}): ${failure.message}${failure.line ? ` at line ${failure.line}` : ''}`,
      );
    }
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
  }
}

function maskDeep(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'number') {
    const masked = redact(String(value));
    return masked === String(value) ? value : masked;
  }
  if (Array.isArray(value)) return value.map((item) => maskDeep(item, redact));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), maskDeep(v, redact)]));
  }
  return value;
}

/** How an execution ended, for the metrics: the script's status class, or the failure kind. */
function outcomeLabel(outcome: ExecOutcome): string {
  if (!outcome.ok) return outcome.error.kind;
  const { status } = outcome.result;
  if (status >= 2000 && status <= 2999) return 'success';
  if (status >= 4000 && status <= 4999) return 'status_4xxx';
  if (status >= 5000 && status <= 5999) return 'status_5xxx';
  return 'status_other';
}

const round = (ms: number) => Math.round(ms * 100) / 100;
