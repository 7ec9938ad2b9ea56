import type { Registry } from 'prom-client';

/** One sample as prom-client reports it; histograms name each sample (`_bucket`, `_sum`, `_count`). */
interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * The samples of `registry` named `name` (a family name, or a histogram's `NAME_bucket`,
 * `NAME_sum`, `NAME_count`), read through prom-client, so gauges are collected first.
 */
export async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const families = await registry.getMetricsAsJSON();
  return families.flatMap((family) =>
    (family.values as Sample[]).filter((sample) => (sample.metricName ?? family.name) === name),
  );
}

/**
 * The value of the sample `name` whose labels are exactly `labels` (`le` as a number, or
 * `'+Inf'`), or undefined when there is no such series.
 */
export async function sampleValue(
  registry: Registry,
  name: string,
  labels: Record<string, string | number>,
): Promise<number | undefined> {
  const wanted = Object.entries(labels);
  const found = (await samples(registry, name)).find(
    (sample) =>
      Object.keys(sample.labels).length === wanted.length &&
      wanted.every(([label, value]) => sample.labels[label] === value),
  );
  return found?.value;
}
