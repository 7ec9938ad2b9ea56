/**
 * The script engine's metric families: executions by IdP, kind and outcome, their wall and
 * CPU time and queue wait, demotions, sandbox process starts and exits, and gauges of
 * sandbox processes, queue lengths and executions in flight read at scrape time.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * How one execution ended: `success`, an HTTP status class of the script's answer
 * (`status_4xxx`, `status_5xxx`, `status_other`), or a failure kind such as `cpu_timeout`.
 */
export type ExecutionOutcome = string;

/**
 * A pool of sandbox processes: `base` (normal priority, kept ready), `elastic` (normal
 * priority, started beyond the base) or `demoted` (lowered priority).
 */
export type SandboxPool = 'base' | 'elastic' | 'demoted';

/** What the engine reports at scrape time for the gauges. */
export interface EngineGaugeSource {
  /** Sandbox processes now, by pool: 'base' (normal priority, kept ready), 'elastic' (normal priority, started beyond the base), 'demoted' (lowered priority). */
  processes(): Record<SandboxPool, number>;
  /** Executions waiting in each IdP's queue now (only IdPs with a queue). */
  queueLengths(): ReadonlyMap<string, number>;
  /** Executions of each IdP in sandbox processes now (running or waiting on outbound calls). */
  inFlight(): ReadonlyMap<string, number>;
}

/** Wall-time buckets of `registrar_script_duration_seconds` in seconds (`+Inf` implied). */
export const SCRIPT_DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/** Buckets of `registrar_script_queue_wait_seconds` in seconds (`+Inf` implied). */
export const QUEUE_WAIT_BUCKETS: readonly number[] = [
  0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

const POOLS: readonly SandboxPool[] = ['base', 'elastic', 'demoted'];

/** The label children one `execution()` call touches, cached per (idp, kind, outcome). */
interface ExecutionChildren {
  readonly executions: Counter.Internal;
  readonly duration: Histogram.Internal<'idp' | 'kind'>;
  readonly cpu: Counter.Internal;
  readonly queueWait: Histogram.Internal<'idp'>;
}

/** A time as recorded: negative, NaN or infinite times count as 0 rather than throwing. */
function seconds(value: number): number {
  return value > 0 && value < Number.POSITIVE_INFINITY ? value : 0;
}

/**
 * The engine's metric families, registered in the given registry:
 *
 * - `registrar_script_executions_total{idp,kind,outcome}`, `registrar_script_duration_seconds{idp,kind}`,
 *   `registrar_script_cpu_seconds_total{idp}`, `registrar_script_queue_wait_seconds{idp}` and
 *   `registrar_script_demotions_total{idp}`, recorded per execution;
 * - `registrar_sandbox_process_starts_total{pool}` and `registrar_sandbox_process_exits_total{cause,idp}`;
 * - the gauges `registrar_sandbox_processes{pool}` (all three pools, 0 until a source is set),
 *   `registrar_script_queue_length{idp}` and `registrar_script_in_flight{idp}`, read from the
 *   `EngineGaugeSource` on each scrape. The last two are cleared before each read, so they
 *   hold exactly the IdPs the source reports: an IdP whose queue or sandbox work has gone
 *   is absent, not 0 (query with `or vector(0)` where a zero is wanted), and IdPs removed
 *   from the configuration do not linger.
 *
 * Recording is cheap and never throws on odd values: `.labels(...)` children are cached by
 * their label values, so a call is one map lookup and the increments. Counter and histogram
 * series of an IdP stay until the process ends, as Prometheus counters should.
 */
export class EngineMetrics {
  readonly #executions: Counter<'idp' | 'kind' | 'outcome'>;
  readonly #duration: Histogram<'idp' | 'kind'>;
  readonly #cpu: Counter<'idp'>;
  readonly #queueWait: Histogram<'idp'>;
  readonly #demotions: Counter<'idp'>;
  readonly #exits: Counter<'cause' | 'idp'>;
  readonly #starts: Counter<'pool'>;
  #source: EngineGaugeSource | undefined;

  /** By `idp NUL kind NUL outcome` (kind and outcome never hold a NUL, so the key is unambiguous). */
  readonly #executionChildren = new Map<string, ExecutionChildren>();
  readonly #demotionChildren = new Map<string, Counter.Internal>();
  /** By `idp NUL cause`. */
  readonly #exitChildren = new Map<string, Counter.Internal>();
  readonly #startChildren: ReadonlyMap<SandboxPool, Counter.Internal>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#executions = new Counter({
      name: 'registrar_script_executions_total',
      help: 'Finished script executions, by IdP, script kind and outcome (success, status_4xxx, status_5xxx, status_other or the failure kind).',
      labelNames: ['idp', 'kind', 'outcome'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'registrar_script_duration_seconds',
      help: 'Wall time of script executions in a sandbox process (from start to answer, outbound waits included), by IdP and script kind.',
      labelNames: ['idp', 'kind'],
      buckets: [...SCRIPT_DURATION_BUCKETS],
      registers,
    });
    this.#cpu = new Counter({
      name: 'registrar_script_cpu_seconds_total',
      help: 'CPU time spent running scripts, by IdP.',
      labelNames: ['idp'],
      registers,
    });
    this.#queueWait = new Histogram({
      name: 'registrar_script_queue_wait_seconds',
      help: 'Time script executions waited for a sandbox process before starting, by IdP.',
      labelNames: ['idp'],
      buckets: [...QUEUE_WAIT_BUCKETS],
      registers,
    });
    this.#demotions = new Counter({
      name: 'registrar_script_demotions_total',
      help: 'Script executions that ran past the demotion threshold, their sandbox process then lowered in priority, by IdP.',
      labelNames: ['idp'],
      registers,
    });
    this.#exits = new Counter({
      name: 'registrar_sandbox_process_exits_total',
      help: 'Sandbox processes that ended, by cause (crash, cpu_deadline, wall_deadline, memory, idle, shutdown) and the IdP whose execution caused it ("" when none).',
      labelNames: ['cause', 'idp'],
      registers,
    });
    this.#starts = new Counter({
      name: 'registrar_sandbox_process_starts_total',
      help: 'Sandbox processes started, by pool (base, elastic, demoted).',
      labelNames: ['pool'],
      registers,
    });
    const starts = this.#starts;
    const source = () => this.#source;
    // Every pool shows from the first scrape, at 0, so rate() has a starting point.
    this.#startChildren = new Map(
      POOLS.map((pool) => {
        const child = starts.labels({ pool });
        child.inc(0);
        return [pool, child] as const;
      }),
    );

    new Gauge({
      name: 'registrar_sandbox_processes',
      help: 'Sandbox processes now, by pool: base (normal priority, kept ready), elastic (normal priority, started beyond the base), demoted (lowered priority).',
      labelNames: ['pool'],
      registers,
      collect(this: Gauge<'pool'>) {
        const counts = source()?.processes();
        for (const pool of POOLS) this.set({ pool }, counts?.[pool] ?? 0);
      },
    });
    new Gauge({
      name: 'registrar_script_queue_length',
      help: "Script executions waiting in each IdP's queue now (absent when the IdP has no queue).",
      labelNames: ['idp'],
      registers,
      collect(this: Gauge<'idp'>) {
        perIdp(this, source()?.queueLengths());
      },
    });
    new Gauge({
      name: 'registrar_script_in_flight',
      help: 'Script executions of each IdP in sandbox processes now, running or waiting on outbound calls (absent when none).',
      labelNames: ['idp'],
      registers,
      collect(this: Gauge<'idp'>) {
        perIdp(this, source()?.inFlight());
      },
    });
  }

  /** One finished execution of an IdP's script. */
  execution(
    idp: string,
    kind: string,
    outcome: ExecutionOutcome,
    wallSeconds: number,
    cpuSeconds: number,
    queueSeconds: number,
  ): void {
    const key = `${idp}\0${kind}\0${outcome}`;
    let children = this.#executionChildren.get(key);
    if (children === undefined) {
      children = {
        executions: this.#executions.labels({ idp, kind, outcome }),
        duration: this.#duration.labels({ idp, kind }),
        cpu: this.#cpu.labels({ idp }),
        queueWait: this.#queueWait.labels({ idp }),
      };
      this.#executionChildren.set(key, children);
    }
    children.executions.inc();
    children.duration.observe(seconds(wallSeconds));
    children.cpu.inc(seconds(cpuSeconds));
    children.queueWait.observe(seconds(queueSeconds));
  }

  /** An execution ran past the demotion threshold and its process's priority was lowered. */
  demotion(idp: string): void {
    let child = this.#demotionChildren.get(idp);
    if (child === undefined) {
      child = this.#demotions.labels({ idp });
      this.#demotionChildren.set(idp, child);
    }
    child.inc();
  }

  /** A sandbox process ended; cause: 'crash' | 'cpu_deadline' | 'wall_deadline' | 'memory' | 'idle' | 'shutdown'; idp: the IdP whose execution caused it, or '' */
  processExit(cause: string, idp: string): void {
    const key = `${idp}\0${cause}`;
    let child = this.#exitChildren.get(key);
    if (child === undefined) {
      child = this.#exits.labels({ cause, idp });
      this.#exitChildren.set(key, child);
    }
    child.inc();
  }

  /** A sandbox process started; pool as in EngineGaugeSource. */
  processStart(pool: SandboxPool): void {
    this.#startChildren.get(pool)?.inc();
  }

  /** Wires the gauges, read at scrape time through prom-client's collect(). */
  setGaugeSource(source: EngineGaugeSource): void {
    this.#source = source;
  }
}

/** Sets a per-IdP gauge to exactly `values` (cleared first; nothing when there is no source yet). */
function perIdp(gauge: Gauge<'idp'>, values: ReadonlyMap<string, number> | undefined): void {
  gauge.reset();
  if (values === undefined) return;
  for (const [idp, value] of values) gauge.set({ idp }, value);
}
