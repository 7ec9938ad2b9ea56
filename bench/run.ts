/**
 * `npm run bench`: autocannon against the backchannel (a script that parses the
 * payload and writes CACHE), against complete (a script, then an access token issued
 * and stored) and against a baseline route in the same server process (same Basic
 * auth and JSON parsing, no script), interleaved round by round so all see the same
 * machine noise. Prints rps, p99 and CPU per request for each, and ratios to the baseline.
 *
 * Env: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (default 16), BENCH_ENGINE (JSON engine config for the server).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { BENCH_APP, BENCH_CLIENT, basicAuth } from './fixtures.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);

const server = spawn(
  process.execPath,
  ['--import', 'tsx', new URL('./server.ts', import.meta.url).pathname],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  },
);
const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
  server.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  createInterface({ input: server.stdout }).once('line', (line) => resolve(JSON.parse(line)));
});

const body = JSON.stringify({ data: JSON.stringify({ userId: 'bench-user-42' }) });
const targets = {
  baseline: { path: '/bench/baseline', auth: basicAuth(BENCH_CLIENT) },
  backchannel: { path: '/oauth/api/v3/custom-registration/qr/backchannel', auth: basicAuth(BENCH_CLIENT) },
  // A registration completed, with its access token issued and stored.
  complete: { path: '/oauth/custom-registration/direct/complete', auth: basicAuth(BENCH_APP) },
} as const;
type Target = keyof typeof targets;

const TICKS_PER_MS = 100 / 1000; // USER_HZ

/** CPU time (ms) used so far by the server process and, separately, by its sandbox processes. */
function cpuTimes(): { server: number; sandbox: number } {
  const out = { server: 0, sandbox: 0 };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
      if (Number(entry) === pid) out.server += ms;
      else if (Number(fields[1]) === pid) out.sandbox += ms;
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

async function load(target: Target, duration: number) {
  const before = cpuTimes();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${targets[target].path}`,
    method: 'POST',
    headers: { authorization: targets[target].auth, 'content-type': 'application/json' },
    body,
    connections,
    duration,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${target}: ${bad} failed requests of ${result.requests.total}`);
  const after = cpuTimes();
  const total = result.requests.total;
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    // CPU microseconds per request, in the server process and in the sandbox processes.
    serverCpuUs: ((after.server - before.server) * 1000) / total,
    sandboxCpuUs: ((after.sandbox - before.sandbox) * 1000) / total,
  };
}

try {
  // Warm up every path (JIT, isolates, credential caches), then measure interleaved,
  // rotating the order each round so no route always runs first.
  const order = Object.keys(targets) as Target[];
  for (const target of order) await load(target, 2);
  const samples = Object.fromEntries(order.map((t) => [t, []])) as unknown as Record<
    Target,
    Array<Awaited<ReturnType<typeof load>>>
  >;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < order.length; i++) {
      const target = order[(i + round) % order.length] as Target;
      const sample = await load(target, seconds);
      samples[target].push(sample);
      console.log(
        `round ${round + 1} ${target.padEnd(11)} ${sample.rps.toFixed(0).padStart(6)} rps  p50 ${sample.p50} ms  p99 ${sample.p99} ms  ` +
          `cpu/request: server ${sample.serverCpuUs.toFixed(0)} us, sandbox ${sample.sandboxCpuUs.toFixed(0)} us`,
      );
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const summary = Object.fromEntries(
    order.map((t) => [
      t,
      { rps: median(samples[t].map((s) => s.rps)), p99: median(samples[t].map((s) => s.p99)) },
    ]),
  ) as Record<Target, { rps: number; p99: number }>;
  const ratios = Object.fromEntries(
    order
      .filter((t) => t !== 'baseline')
      .map((t) => [
        t,
        {
          rps: summary[t].rps / summary.baseline.rps,
          p99: summary[t].p99 / Math.max(summary.baseline.p99, 1),
        },
      ]),
  );
  console.log('\n| route | rps (median) | p99 ms (median) |\n|---|---:|---:|');
  for (const t of order) console.log(`| ${t} | ${summary[t].rps.toFixed(0)} | ${summary[t].p99} |`);
  console.log('');
  for (const [t, r] of Object.entries(ratios)) {
    console.log(
      `${t} / baseline: rps ${r.rps.toFixed(2)}x (target >= 0.75x), p99 ${r.p99.toFixed(2)}x (target <= 1.5x)`,
    );
  }
  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(
    `settings: ${rounds} rounds x ${seconds} s, ${connections} connections, engine ${process.env.BENCH_ENGINE ?? '{}'}`,
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL(`./results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url),
    JSON.stringify({ samples, summary, ratios, seconds, rounds, connections }, null, 2),
  );
} finally {
  server.kill('SIGTERM');
}
