/**
 * A minimal, dependency-free metrics toolkit: labelled counters and histograms, and a
 * registry rendering them in the Prometheus text exposition format 0.0.4.
 */

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** Anything a registry can render: one metric family. */
export interface MetricFamily {
  readonly name: string;
  /** The family's `# HELP`, `# TYPE` and sample lines, each ending in a newline. */
  render(): string;
}

/** The content type of `render()` output, for an HTTP `/metrics` endpoint. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`, or a decimal/exponent number). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function formatLabels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

interface FamilyOptions {
  /** Metric name, e.g. `registrar_outbound_requests_total`. */
  readonly name: string;
  readonly help: string;
  /** The label names every series must give, in rendering order. */
  readonly labelNames: readonly string[];
}

/** Shared bookkeeping: name checks, label validation and series lookup by label values. */
abstract class LabelledFamily<Series> implements MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, { values: string[]; data: Series }>();

  constructor(options: FamilyOptions) {
    if (!METRIC_NAME.test(options.name)) throw new TypeError(`invalid metric name ${options.name}`);
    for (const label of options.labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || label === 'le') {
        throw new TypeError(`invalid label name ${label} for ${options.name}`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...options.labelNames];
  }

  protected abstract readonly type: string;
  protected abstract create(): Series;
  protected abstract sampleLines(labels: (readonly [string, string])[], series: Series): string[];

  protected series(labels: Labels): Series {
    const values = this.labelNames.map((name) => {
      const value = labels[name];
      if (typeof value !== 'string') throw new TypeError(`${this.name}: label ${name} is missing`);
      return value;
    });
    const key = JSON.stringify(values);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { values, data: this.create() };
      this.#series.set(key, entry);
    }
    return entry.data;
  }

  protected existing(labels: Labels): Series | undefined {
    return this.#series.get(JSON.stringify(this.labelNames.map((name) => labels[name] ?? '')))?.data;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    const entries = [...this.#series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, { values, data }] of entries) {
      const pairs = this.labelNames.map((name, index) => [name, values[index] ?? ''] as const);
      lines.push(...this.sampleLines(pairs, data));
    }
    return `${lines.join('\n')}\n`;
  }
}

/** A monotonically increasing count per label set. */
export class Counter extends LabelledFamily<{ value: number }> {
  protected readonly type = 'counter';

  protected create() {
    return { value: 0 };
  }

  /** Adds `by` (default 1, must not be negative) to the series of `labels`. */
  inc(labels: Labels, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter cannot decrease`);
    this.series(labels).value += by;
  }

  /** The current value for `labels` (0 when never incremented). */
  get(labels: Labels): number {
    return this.existing(labels)?.value ?? 0;
  }

  protected sampleLines(pairs: (readonly [string, string])[], series: { value: number }): string[] {
    return [`${this.name}${formatLabels(pairs)} ${formatValue(series.value)}`];
  }
}

interface HistogramSeries {
  /** Non-cumulative counts per finite bucket; the +Inf bucket is `count`. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A snapshot of one histogram series: cumulative bucket counts, sum and count. */
export interface HistogramSnapshot {
  readonly buckets: readonly { le: number; count: number }[];
  readonly sum: number;
  readonly count: number;
}

/** Observations per label set, counted into fixed buckets (upper bounds, `+Inf` implied). */
export class Histogram extends LabelledFamily<HistogramSeries> {
  protected readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: FamilyOptions & { readonly buckets: readonly number[] }) {
    super(options);
    const finite = options.buckets.filter((bound) => bound !== Number.POSITIVE_INFINITY);
    if (
      finite.length === 0 ||
      finite.some((bound, i) => !Number.isFinite(bound) || bound <= (finite[i - 1] ?? -Infinity))
    ) {
      throw new TypeError(`${options.name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = finite;
  }

  protected create(): HistogramSeries {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  /** Records one observation for `labels`. */
  observe(labels: Labels, value: number): void {
    const series = this.series(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index !== -1) series.counts[index] = (series.counts[index] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** Cumulative counts, sum and count for `labels` (all zero when never observed). */
  snapshot(labels: Labels): HistogramSnapshot {
    const series = this.existing(labels) ?? this.create();
    let running = 0;
    const buckets = this.buckets.map((le, index) => {
      running += series.counts[index] ?? 0;
      return { le, count: running };
    });
    return {
      buckets: [...buckets, { le: Number.POSITIVE_INFINITY, count: series.count }],
      sum: series.sum,
      count: series.count,
    };
  }

  protected sampleLines(pairs: (readonly [string, string])[], series: HistogramSeries): string[] {
    const lines: string[] = [];
    let running = 0;
    this.buckets.forEach((bound, index) => {
      running += series.counts[index] ?? 0;
      const labels = formatLabels([...pairs, ['le', formatValue(bound)]]);
      lines.push(`${this.name}_bucket${labels} ${running}`);
    });
    lines.push(`${this.name}_bucket${formatLabels([...pairs, ['le', '+Inf']])} ${series.count}`);
    lines.push(`${this.name}_sum${formatLabels(pairs)} ${formatValue(series.sum)}`);
    lines.push(`${this.name}_count${formatLabels(pairs)} ${series.count}`);
    return lines;
  }
}

/** A set of metric families rendered together (one `/metrics` page). */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily>();

  /** Adds a family; its name must be unique in the registry. Returns the family. */
  register<T extends MetricFamily>(family: T): T {
    if (this.#families.has(family.name)) throw new TypeError(`metric ${family.name} is already registered`);
    this.#families.set(family.name, family);
    return family;
  }

  /** Every family in registration order, in the text exposition format 0.0.4. */
  render(): string {
    return [...this.#families.values()].map((family) => family.render()).join('');
  }
}
