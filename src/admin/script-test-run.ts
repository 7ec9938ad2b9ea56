import type { EngineConfig, ScriptKind, ScriptLimits } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { effectiveLimits } from '../engine/limits.js';
import { type FieldProblem, RegistrarError } from '../errors.js';
import { type ExecutionEgress, egressFor } from '../outbound/effective-policy.js';
import type { IdentityProviderRecord, StoredScriptTestCase } from '../storage/types.js';
import { dryRun } from './dry-run.js';
import { scriptFilename } from './idp-views.js';
import {
  type CaseResult,
  judgeCase,
  type ScriptTestCase,
  scriptTestCaseSchema,
} from './script-test-cases.js';

/** What the cases run against: a source, as one IdP's script kind, under its limits. */
export interface ScriptTestTarget {
  engine: ScriptEngine;
  engineConfig: EngineConfig;
  idpId: string;
  kind: ScriptKind;
  source: string;
  filename: string;
  limits: ScriptLimits;
  outbound?: ExecutionEgress | undefined;
}

/** The outcome of a script's cases. */
export interface ScriptTestRun {
  passed: number;
  failed: number;
  results: CaseResult[];
}

/** The target for `source` run as `idp`'s `kind` script, with the IdP's limits and egress. */
export function idpTestTarget(
  engine: ScriptEngine,
  engineConfig: EngineConfig,
  idp: IdentityProviderRecord,
  kind: ScriptKind,
  source: string,
): ScriptTestTarget {
  return {
    engine,
    engineConfig,
    idpId: idp.id,
    kind,
    source,
    filename: scriptFilename(idp.id, kind),
    limits: effectiveLimits(engineConfig, idp.limits),
    outbound: egressFor(engineConfig, idp),
  };
}

/**
 * Runs each case once, one after another, as a dry run (the real sandbox and limits, a
 * scratch CACHE seeded by the case, never the real CACHE) and judges it. A stored case
 * that no longer parses counts as failed.
 */
export async function runScriptTests(
  target: ScriptTestTarget,
  cases: ReadonlyArray<StoredScriptTestCase | ScriptTestCase>,
): Promise<ScriptTestRun> {
  const results: CaseResult[] = [];
  for (const stored of cases) {
    const parsed = scriptTestCaseSchema.safeParse(stored);
    if (!parsed.success) {
      results.push(invalidCase(String(stored.name), parsed.error.issues[0]?.message ?? 'invalid'));
      continue;
    }
    const testCase = parsed.data;
    const { engine, engineConfig, ...script } = target;
    const report = await dryRun(engine, engineConfig, script, testCase.input);
    results.push(judgeCase(testCase, report));
  }
  const failed = results.filter((result) => !result.passed).length;
  return { passed: results.length - failed, failed, results };
}

function invalidCase(name: string, message: string): CaseResult {
  return {
    name,
    passed: false,
    failures: [{ check: 'case', expected: 'a valid test case', got: message }],
    status: null,
    error: null,
    logs: [],
    wall_ms: 0,
  };
}

/** One failed check, as the gate's `script_tests_failed` answer lists it in `details`. */
export interface TestFailureDetail extends FieldProblem {
  case: string;
  check: string;
  expected: unknown;
  got: unknown;
  logs: Array<{ level: string; message: string }>;
}

/** Each failed check of a run, for `details` (and the audit event). */
export function failureDetails(run: ScriptTestRun): TestFailureDetail[] {
  return run.results.flatMap((result) =>
    result.failures.map((failure) => ({
      field: `tests.${result.name}`,
      message: `${failure.check}: expected ${show(failure.expected)}, got ${show(failure.got)}`,
      case: result.name,
      check: failure.check,
      expected: failure.expected,
      got: failure.got,
      logs: result.logs,
    })),
  );
}

/** `script_tests_failed` for a run with failures; `what` says what was (not) done. */
export function testsFailedError(run: ScriptTestRun, what: string): RegistrarError {
  const total = run.passed + run.failed;
  return new RegistrarError(
    'script_tests_failed',
    `${what}: ${run.failed} of ${total} stored test case${total === 1 ? '' : 's'} failed (pass force=true to activate anyway)`,
    { details: failureDetails(run) },
  );
}

const show = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};
