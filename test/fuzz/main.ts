/**
 * `npm run fuzz`: the fuzzer at length (FUZZ_REQUESTS, default 100000) with a seed from
 * FUZZ_SEED or a random one, printed first so that a failing run can be replayed;
 * FUZZ_ONLY=index sends just that request. Exits 1 when there are findings.
 */
import { randomInt } from 'node:crypto';
import { findingsText, replayHint, summary } from './report.js';
import { runFuzz } from './run.js';
import { startTarget } from './target.js';

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : randomInt(2 ** 32 - 1);
const requests = Number(process.env.FUZZ_REQUESTS ?? 100_000);
const only = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);
console.log(`fuzz: seed ${seed}, ${requests} requests (replay: ${replayHint(seed)})`);

const target = await startTarget();
let failed = true;
try {
  const report = await runFuzz(target, {
    seed,
    requests,
    ...(only === undefined ? {} : { only }),
    log: (line) => console.log(line),
    onFirstFinding: (f) =>
      console.log(
        `fuzz: finding #${f.index}: ${f.problem}\n  ${f.request}\n  answer: ${f.answer ?? ''}\n  ${(f.logs ?? []).join('\n  ')}`,
      ),
  });
  console.log(summary(report));
  console.log(`fuzz: answers by credentials: ${JSON.stringify(report.outcomes)}`);
  if (report.findings.length > 0) console.log(findingsText(report));
  failed = report.findings.length > 0;
} finally {
  await target.close();
}
process.exit(failed ? 1 : 0);
