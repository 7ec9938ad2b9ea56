/** `registrar script test FILE --cases CASES`: each stored-test case run against FILE. */
import type { ScriptTestCase } from '../admin/script-test-cases.js';
import { runScriptTests, type ScriptTestRun, type ScriptTestTarget } from '../admin/script-test-run.js';

/** Runs the cases, prints the outcome (`json`: as JSON), and returns the exit code: 0 all passed, 2 any failed. */
export async function runCases(
  target: ScriptTestTarget,
  cases: ScriptTestCase[],
  json: boolean,
): Promise<number> {
  const run = await runScriptTests(target, cases);
  process.stdout.write(json ? `${JSON.stringify(run, null, 2)}\n` : casesSummary(run));
  return run.failed > 0 ? 2 : 0;
}

/** The run as readable text: one line per case, each failed check under it. */
function casesSummary(run: ScriptTestRun): string {
  const lines: string[] = [];
  for (const result of run.results) {
    lines.push(`${result.passed ? 'PASS' : 'FAIL'} ${result.name}`);
    for (const failure of result.failures) {
      lines.push(`  ${failure.check}: expected ${show(failure.expected)}, got ${show(failure.got)}`);
    }
    if (!result.passed) {
      if (result.error) lines.push(`  error: ${result.error.kind}: ${result.error.message}`);
      for (const line of result.logs) lines.push(`  [${line.level}] ${line.message}`);
    }
  }
  lines.push(`${run.passed} passed, ${run.failed} failed`);
  return `${lines.join('\n')}\n`;
}

const show = (value: unknown) => JSON.stringify(value) ?? String(value);
