import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { DryRunReport } from './dry-run.js';
import { dryRunRequestSchema } from './dry-run.js';

/** How many cases one script may carry, and how many log lines a failure quotes. */
export const MAX_TEST_CASES = 100;
const MAX_QUOTED_LOGS = 20;

/** A regular expression given as text: must compile, at most 1000 characters. */
const regexText = z
  .string()
  .max(1000)
  .refine(
    (text) => {
      try {
        new RegExp(text);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid regular expression' },
  );

const logExpectation = z.union([
  z.string().min(1),
  z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
    contains: z.string().min(1).optional(),
    matches: regexText.optional(),
  }),
]);

/** A test case's input: the `execute` arguments and the scratch CACHE seed, as a dry run takes them. */
export const scriptTestInputSchema = dryRunRequestSchema.omit({ source: true });

/** What a case expects; every check given must hold. */
export const scriptTestExpectSchema = z.strictObject({
  /** An exact status, a status class (`2xxx`, `4xxx`, `5xxx`), or `error`: the script fails (throws, times out, returns no status). */
  status: z.union([z.int(), z.enum(['2xxx', '4xxx', '5xxx', 'error'])]).optional(),
  /** `responsePayload`: equal to a string (or null: none), or `{matches: regex}`, or `{json_subset: value}`. */
  payload: z
    .union([
      z.string().nullable(),
      z.strictObject({ matches: regexText }),
      z.strictObject({ json_subset: z.json() }),
    ])
    .optional(),
  /** The returned `user`: null for none, else a JSON subset of it. */
  user: z.json().nullable().optional(),
  /** The scratch CACHE afterwards: key → expected value (null: the key is absent). */
  cache: z.record(z.string(), z.json().nullable()).optional(),
  /** Log lines that must appear (a string: a message containing it). */
  logs: z.array(logExpectation).max(50).optional(),
});

/** One stored test case of a script: a unique name, an input and expectations. */
export const scriptTestCaseSchema = z.strictObject({
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  input: scriptTestInputSchema.default({}),
  expect: scriptTestExpectSchema,
});
export type ScriptTestCase = z.infer<typeof scriptTestCaseSchema>;

/** A script's whole list of cases: at most {@link MAX_TEST_CASES}, names unique. */
export const scriptTestListSchema = z
  .array(scriptTestCaseSchema)
  .max(MAX_TEST_CASES)
  .superRefine((cases, ctx) => {
    const seen = new Set<string>();
    cases.forEach((c, i) => {
      if (seen.has(c.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate case name: ${c.name}` });
      }
      seen.add(c.name);
    });
  });

/** One check of a case that did not hold. */
export const checkFailureSchema = z.object({
  /** `status`, `payload`, `user`, `cache.<key>` or `logs[i]`. */
  check: z.string(),
  expected: z.unknown(),
  got: z.unknown(),
});
export type CheckFailure = z.infer<typeof checkFailureSchema>;

/** The outcome of one case. */
export const caseResultSchema = z.object({
  name: z.string(),
  passed: z.boolean(),
  failures: z.array(checkFailureSchema),
  /** What the run returned (null when the script failed) and its error, if any. */
  status: z.int().nullable(),
  error: z.object({ kind: z.string(), message: z.string(), line: z.int().nullable() }).nullable(),
  /** The run's log lines (masked), at most 20. */
  logs: z.array(z.object({ level: z.string(), message: z.string() })),
  wall_ms: z.number(),
});
export type CaseResult = z.infer<typeof caseResultSchema>;

/** Checks a dry run's report against a case's expectations. */
export function judgeCase(testCase: ScriptTestCase, report: DryRunReport): CaseResult {
  const failures: CheckFailure[] = [];
  const fail = (check: string, expected: unknown, got: unknown) => failures.push({ check, expected, got });
  const { expect } = testCase;
  const got = report.error ? 'error' : report.status;
  if (expect.status !== undefined && !statusHolds(expect.status, report)) {
    fail(
      'status',
      expect.status,
      report.error ? `error (${report.error.kind}: ${report.error.message})` : got,
    );
  }
  if (expect.payload !== undefined && !payloadHolds(expect.payload, report.response_payload)) {
    fail('payload', expect.payload, report.response_payload);
  }
  if (expect.user !== undefined) {
    const holds = expect.user === null ? report.user === null : isSubset(expect.user, report.user);
    if (!holds) fail('user', expect.user, report.user);
  }
  for (const [key, value] of Object.entries(expect.cache ?? {})) {
    const actual = Object.hasOwn(report.cache, key) ? report.cache[key] : null;
    if (!isDeepStrictEqual(actual, value)) fail(`cache.${key}`, value, actual);
  }
  (expect.logs ?? []).forEach((wanted, i) => {
    if (!report.logs.some((line) => logHolds(wanted, line))) {
      fail(`logs[${i}]`, wanted, report.logs.map((line) => `[${line.level}] ${line.message}`).slice(0, 5));
    }
  });
  return {
    name: testCase.name,
    passed: failures.length === 0,
    failures,
    status: report.status,
    error: report.error ?? null,
    logs: report.logs.slice(0, MAX_QUOTED_LOGS),
    wall_ms: report.wall_ms,
  };
}

function statusHolds(expected: NonNullable<ScriptTestCase['expect']['status']>, report: DryRunReport) {
  if (expected === 'error') return report.error !== undefined;
  if (report.error || report.status === null) return false;
  if (typeof expected === 'number') return report.status === expected;
  const low = Number(expected[0]) * 1000;
  return report.status >= low && report.status <= low + 999;
}

function payloadHolds(
  expected: Exclude<ScriptTestCase['expect']['payload'], undefined>,
  payload: string | null,
) {
  if (expected === null || typeof expected === 'string') return payload === expected;
  if (payload === null) return false;
  if ('matches' in expected) return new RegExp(expected.matches).test(payload);
  try {
    return isSubset(expected.json_subset, JSON.parse(payload));
  } catch {
    return false;
  }
}

function logHolds(wanted: z.infer<typeof logExpectation>, line: { level: string; message: string }) {
  if (typeof wanted === 'string') return line.message.includes(wanted);
  if (wanted.level !== undefined && line.level !== wanted.level) return false;
  if (wanted.contains !== undefined && !line.message.includes(wanted.contains)) return false;
  if (wanted.matches !== undefined && !new RegExp(wanted.matches).test(line.message)) return false;
  return true;
}

/**
 * Whether `expected` is a JSON subset of `actual`: objects need every expected key
 * (recursively a subset), arrays and other values must be equal.
 */
export function isSubset(expected: unknown, actual: unknown): boolean {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const record = actual as Record<string, unknown>;
    return Object.entries(expected).every(
      ([key, value]) => Object.hasOwn(record, key) && isSubset(value, record[key]),
    );
  }
  return isDeepStrictEqual(expected, actual);
}
