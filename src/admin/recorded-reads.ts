import { MASK } from '../engine/redact.js';
import type { RecordedExecution } from '../storage/types.js';
import type { DryRunRequest } from './dry-run.js';

type Seed = NonNullable<DryRunRequest['cache']>;

/**
 * What a recorded execution read, as dry-run input: the CACHE keys it fetched and found,
 * as a scratch-CACHE seed (absent ones stay absent), and the properties it read, as
 * overrides. A value that holds a masked secret is left out: its property then reads the
 * installation's value, its CACHE key stays absent. Empty when the recording kept no reads.
 */
export function readsAsInput(execution: RecordedExecution): {
  cache?: Seed;
  properties?: Record<string, string>;
} {
  const { reads } = execution;
  if (!reads) return {};
  const cache: Seed = {};
  for (const [key, value] of Object.entries(reads.cache)) {
    if (value === null || value.includes(MASK) || key.includes(MASK)) continue;
    cache[key] = parseJson(value);
  }
  const properties: Record<string, string> = {};
  for (const [id, value] of Object.entries(reads.properties)) {
    if (value !== null && !value.includes(MASK)) properties[id] = value;
  }
  return {
    ...(Object.keys(cache).length > 0 ? { cache } : {}),
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}

/** CACHE values are JSON text; one that no longer parses (masking inside it) is kept as a string. */
function parseJson(text: string): Seed[string] {
  try {
    return JSON.parse(text) as Seed[string];
  } catch {
    return text;
  }
}
