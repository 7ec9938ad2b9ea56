/** Fuzz reports as text, for the test's failure message and `npm run fuzz`. */
import type { FuzzReport } from './run.js';

/** How to run the same requests again. */
export const replayHint = (seed: number, index?: number) =>
  `FUZZ_SEED=${seed}${index === undefined ? '' : ` FUZZ_ONLY=${index}`} npm run fuzz`;

/** A summary line: requests, time, answers by status. */
export function summary(report: FuzzReport): string {
  const statuses = Object.entries(report.statuses)
    .map(([status, n]) => `${status}:${n}`)
    .join(' ');
  return `fuzz: seed ${report.seed}, ${report.requests} requests in ${(report.ms / 1000).toFixed(1)} s, ${report.findings.length} findings, ${report.unsent} unsent; statuses ${statuses}`;
}

/** The findings, grouped by problem (the first few requests of each), with replay hints. */
export function findingsText(report: FuzzReport, perProblem = 3): string {
  const groups = new Map<string, FuzzReport['findings']>();
  for (const finding of report.findings) {
    const key = finding.problem.replace(/\d+ ms/, 'N ms');
    groups.set(key, [...(groups.get(key) ?? []), finding]);
  }
  const parts: string[] = [];
  for (const [problem, findings] of groups) {
    parts.push(`${problem} (${findings.length}x)`);
    for (const f of findings.slice(0, perProblem)) {
      parts.push(`  ${f.request}`);
      if (f.answer !== undefined) parts.push(`    answer: ${f.answer}`);
      for (const line of f.logs ?? []) parts.push(`    log: ${line}`);
      parts.push(`    replay: ${replayHint(report.seed, f.index)}`);
    }
  }
  return parts.join('\n');
}
