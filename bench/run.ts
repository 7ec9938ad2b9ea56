/**
 * `npm run bench`: autocannon against the backchannel (a script that parses the
 * payload and writes CACHE), against complete (a script, then an access token issued
 * and stored), and against two baselines without a script: **bare**, a Fastify process
 * of its own doing the same Basic auth (cached scrypt hash), JSON parsing and a `Map`
 * store (bench/bare-server.ts), and **baseline**, a route inside Registrar's server
 * (which pays Registrar's own per-request overhead). Routes run interleaved round by
 * round so all see the same machine noise. Prints rps, p99 and CPU per request for each
 * (server and sandbox processes apart), and every route's ratio to bare: each route's run
 * follows a run of bare right before it, and the ratio is the median over the rounds of
 * those pairs (this VM's speed drifts by tens of percent within minutes).
 * The backchannel and complete run twice: on SQLite, and on PostgreSQL + Redis (the
 * scale-out backends; REGISTRAR_TEST_POSTGRES_URL / REGISTRAR_TEST_REDIS_URL, or
 * throwaway ones from scripts/test-services.sh), each on its own server process.
 *
 * "Runaway neighbour" scenarios load the SQLite backchannel again while callers keep
 * calling a misbehaving script on another IdP (a loop, an allocation bomb, Atomics.wait,
 * a sparse-array lastIndexOf, a slow upstream), and report its throughput and p99 as a
 * ratio of its own figure alone, measured right before (the machine's speed drifts).
 *
 * Env: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (default 50), BENCH_ENGINE (JSON engine config for the server),
 * BENCH_ONLY (comma-separated route names to run, e.g. `backchannel,neighbour-loop-8`),
 * BENCH_PROFILE=1 (write a V8 CPU profile of each bench server to bench/results/profiles/).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import autocannon from 'autocannon';
import { scaleOutBackends } from './backends.js';
import { BENCH_APP, BENCH_CLIENT, basicAuth } from './fixtures.js';
import { startCallers, startSlowUpstream } from './neighbours.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;

/**
 * Starts a bench server process (`script`, default bench/server.ts) with extra environment;
 * resolves when it listens. It answers its port on fd 3; its stdout (Registrar's log, at
 * the default level `info`, as in production) goes to a file in bench/results/.
 */
async function startServer(env: Record<string, string>, script = './server.ts') {
  const logDir = new URL('./results/logs/', import.meta.url).pathname;
  mkdirSync(logDir, { recursive: true });
  const logFd = openSync(join(logDir, `${script.replace(/\W/g, '')}-${Date.now()}.log`), 'w');
  const child = spawn(
    process.execPath,
    [
      // BENCH_PROFILE=1: a V8 CPU profile of each bench server, written when it exits.
      ...(process.env.BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${new URL('./results/profiles/', import.meta.url).pathname}`]
        : []),
      '--import',
      'tsx',
      new URL(script, import.meta.url).pathname,
    ],
    {
      stdio: ['ignore', logFd, 'inherit', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  closeSync(logFd);
  const portPipe = child.stdio[3] as Readable;
  const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server ${script} exited with ${code}`)));
    createInterface({ input: portPipe }).once('line', (line) => resolve(JSON.parse(line)));
  });
  return { child, port, pid };
}

const upstream = await startSlowUpstream(1000);
const backends =
  only && ![...only].some((t) => t.includes('pg-redis')) ? 'not asked for' : await scaleOutBackends();
const bare = await startServer({}, './bare-server.ts');
const sqlite = await startServer({ BENCH_UPSTREAM: upstream.origin });
const scaleOut =
  typeof backends === 'string'
    ? undefined
    : await startServer({ BENCH_STORAGE_URL: backends.storageUrl, BENCH_CACHE_URL: backends.cacheUrl });
if (typeof backends === 'string') console.log(`scale-out routes skipped: ${backends}`);

const body = JSON.stringify({ data: JSON.stringify({ userId: 'bench-user-42' }) });
const BACKCHANNEL = '/oauth/api/v3/custom-registration/qr/backchannel';
// A registration completed, with its access token issued and stored.
const COMPLETE = '/oauth/custom-registration/direct/complete';
interface TargetSpec {
  server: Awaited<ReturnType<typeof startServer>>;
  path: string;
  auth: string;
  /** Callers of a misbehaving IdP's backchannel running meanwhile. */
  neighbour?: { idp: string; callers: number };
}
/** The runaway-neighbour scenarios: which IdP misbehaves, with how many concurrent callers. */
const NEIGHBOUR_SCENARIOS: [idp: string, callers: number][] = [
  ['loop', 1],
  ['loop', 2],
  ['loop', 8],
  ['alloc', 8],
  ['atomics', 8],
  ['sparse', 8],
  ['upstream', 40],
];
const allTargets: Record<string, TargetSpec> = {
  baseline: { server: sqlite, path: '/bench/baseline', auth: basicAuth(BENCH_CLIENT) },
  backchannel: { server: sqlite, path: BACKCHANNEL, auth: basicAuth(BENCH_CLIENT) },
  complete: { server: sqlite, path: COMPLETE, auth: basicAuth(BENCH_APP) },
  ...(scaleOut
    ? {
        'backchannel-pg-redis': { server: scaleOut, path: BACKCHANNEL, auth: basicAuth(BENCH_CLIENT) },
        'complete-pg-redis': { server: scaleOut, path: COMPLETE, auth: basicAuth(BENCH_APP) },
      }
    : {}),
  ...Object.fromEntries(
    NEIGHBOUR_SCENARIOS.map(([idp, callers]) => [
      `neighbour-${idp}-${callers}`,
      { server: sqlite, path: BACKCHANNEL, auth: basicAuth(BENCH_CLIENT), neighbour: { idp, callers } },
    ]),
  ),
};
const targets = Object.fromEntries(Object.entries(allTargets).filter(([name]) => !only || only.has(name)));
type Target = string;

const TICKS_PER_MS = 100 / 1000; // USER_HZ

/** CPU time (ms) used so far, per process: the server, its sandbox processes, and the PostgreSQL/Redis servers. */
function cpuSnapshot(pid: number): Map<number, { kind: 'server' | 'sandbox' | 'backends'; ms: number }> {
  const out = new Map<number, { kind: 'server' | 'sandbox' | 'backends'; ms: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const id = Number(entry);
      if (id === pid) out.set(id, { kind: 'server', ms });
      else if (Number(fields[1]) === pid) out.set(id, { kind: 'sandbox', ms });
      else if (name === 'postgres' || name.startsWith('redis-server')) out.set(id, { kind: 'backends', ms });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * CPU (ms) spent between two snapshots by each kind of process. A process that ended in
 * between is not counted (PostgreSQL ends idle connections' processes): an undercount,
 * never a negative figure.
 */
function cpuSpent(before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>) {
  const spent = { server: 0, sandbox: 0, backends: 0 };
  for (const [id, now] of after) spent[now.kind] += now.ms - (before.get(id)?.ms ?? 0);
  return spent;
}

async function load(target: Target, duration: number) {
  const spec = targets[target];
  if (!spec) throw new Error(`unknown target ${target}`);
  const { server, path, auth, neighbour } = spec;
  const cannonAt = (port: number, at: string, authorization: string) =>
    autocannon({
      url: `http://127.0.0.1:${port}${at}`,
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body,
      connections,
      duration,
    });
  const cannon = () => cannonAt(server.port, path, auth);
  // Every measurement has a reference taken right before it, so each ratio compares two runs
  // on the same machine state (this VM's speed drifts by tens of percent within minutes): a
  // neighbour scenario the route alone, every other route the bare Fastify process.
  // A second's rest first: what the previous route left running (sandbox GC, checkpoints,
  // log flushes) must not slow the reference down and flatter the ratio.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const reference = neighbour
    ? await cannon()
    : await cannonAt(bare.port, BACKCHANNEL, basicAuth(BENCH_CLIENT));
  const callers =
    neighbour &&
    startCallers(
      `http://127.0.0.1:${server.port}/oauth/api/v3/custom-registration/${neighbour.idp}/backchannel`,
      { authorization: auth, 'content-type': 'application/json' },
      body,
      neighbour.callers,
    );
  // Let the neighbours take hold of what they can before measuring.
  if (callers) await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = cpuSnapshot(server.pid);
  const result = await cannon();
  const spent = cpuSpent(before, cpuSnapshot(server.pid));
  // Stopping waits for each neighbour's request in flight, so the next run starts clean.
  const neighbourTally = await callers?.stop();
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${target}: ${bad} failed requests of ${result.requests.total}`);
  const total = result.requests.total;
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    // CPU microseconds per request, in the server process and in the sandbox processes.
    serverCpuUs: (spent.server * 1000) / total,
    sandboxCpuUs: (spent.sandbox * 1000) / total,
    backendsCpuUs: (spent.backends * 1000) / total,
    /** The reference run right before: bare Fastify, or for a neighbour scenario the route alone. */
    referenceRps: reference.requests.average,
    referenceP99: reference.latency.p99,
    neighbourCalls: neighbourTally?.calls ?? 0,
    neighbourFailures: neighbourTally?.failures ?? 0,
  };
}

try {
  // Warm up every path (JIT, isolates, credential caches), then measure interleaved,
  // rotating the order each round so no route always runs first.
  const order = Object.keys(targets) as Target[];
  for (const target of order) await load(target, 2);
  type Sample = Awaited<ReturnType<typeof load>>;
  const samples = new Map<Target, Sample[]>(order.map((t) => [t, []]));
  const samplesOf = (t: Target): Sample[] => samples.get(t) ?? [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < order.length; i++) {
      const target = order[(i + round) % order.length] as Target;
      const sample = await load(target, seconds);
      samplesOf(target).push(sample);
      const reference = targets[target]?.neighbour ? 'alone' : 'bare';
      console.log(
        `round ${round + 1} ${target.padEnd(20)} ${sample.rps.toFixed(0).padStart(6)} rps  p50 ${sample.p50} ms  p99 ${sample.p99} ms  ` +
          `cpu/request: server ${sample.serverCpuUs.toFixed(0)} us, sandbox ${sample.sandboxCpuUs.toFixed(0)} us, ` +
          `postgres+redis ${sample.backendsCpuUs.toFixed(0)} us; ` +
          `${reference} just before: ${sample.referenceRps.toFixed(0)} rps, p99 ${sample.referenceP99} ms ` +
          `(${(sample.rps / sample.referenceRps).toFixed(2)}x)` +
          (sample.neighbourCalls || sample.neighbourFailures
            ? `  neighbour: ${sample.neighbourCalls} answered, ${sample.neighbourFailures} failed`
            : ''),
      );
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const summaryOf = (t: Target) => {
    const list = samplesOf(t);
    return {
      rps: median(list.map((x) => x.rps)),
      p99: median(list.map((x) => x.p99)),
      serverCpuUs: median(list.map((x) => x.serverCpuUs)),
      sandboxCpuUs: median(list.map((x) => x.sandboxCpuUs)),
      backendsCpuUs: median(list.map((x) => x.backendsCpuUs)),
    };
  };
  const summary = Object.fromEntries(order.map((t) => [t, summaryOf(t)]));
  // Each ratio is the median, over the rounds, of a route's figure over its reference's
  // measured right before it (bare Fastify, or the route alone for a neighbour scenario).
  const pairRatios = (t: Target) => {
    const list = samplesOf(t);
    return {
      rps: median(list.map((x) => x.rps / x.referenceRps)),
      p99: median(list.map((x) => x.p99 / Math.max(x.referenceP99, 1))),
      referenceRps: median(list.map((x) => x.referenceRps)),
      referenceP99: median(list.map((x) => x.referenceP99)),
    };
  };
  const plain = order.filter((t) => !targets[t]?.neighbour);
  const ratios = Object.fromEntries(plain.map((t) => [t, pairRatios(t)]));
  console.log(
    '\n| route | rps (median) | p99 ms (median) | bare just before: rps, p99 ms (medians) | × bare rps | × bare p99 | server / sandbox / postgres+redis CPU µs per request |\n|---|---:|---:|---|---:|---:|---|',
  );
  for (const t of plain) {
    const x = summaryOf(t);
    const r = pairRatios(t);
    console.log(
      `| ${t} | ${x.rps.toFixed(0)} | ${x.p99} | ${r.referenceRps.toFixed(0)}, ${r.referenceP99} | ${r.rps.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
        `${x.serverCpuUs.toFixed(0)} / ${x.sandboxCpuUs.toFixed(0)} / ${x.backendsCpuUs.toFixed(0)} |`,
    );
  }
  // The same against the median of every bare run of this run, unpaired: a cross-check.
  const allBare = plain.flatMap((t) => samplesOf(t));
  const bareRps = median(allBare.map((x) => x.referenceRps));
  const bareP99 = median(allBare.map((x) => x.referenceP99));
  const unpaired = Object.fromEntries(
    plain.map((t) => [t, { rps: summaryOf(t).rps / bareRps, p99: summaryOf(t).p99 / Math.max(bareP99, 1) }]),
  );
  console.log(`\nbare, median of all ${allBare.length} runs: ${bareRps.toFixed(0)} rps, p99 ${bareP99} ms`);
  for (const [t, r] of Object.entries(ratios)) {
    console.log(
      `${t} / bare Fastify just before: rps ${r.rps.toFixed(2)}x, p99 ${r.p99.toFixed(2)}x (medians of ${rounds} pairs); ` +
        `against all bare runs: rps ${unpaired[t]?.rps.toFixed(2)}x, p99 ${unpaired[t]?.p99.toFixed(2)}x` +
        (t === 'backchannel' ? ' (target: rps >= 0.45x, p99 <= 3x)' : ''),
    );
  }
  // Each neighbour scenario against the backchannel alone, round by round (same machine state).
  const neighbourRatios: Record<string, { rps: number; p99Ms: number }> = {};
  for (const t of order.filter((name) => targets[name]?.neighbour)) {
    const list = samplesOf(t);
    const { rps } = pairRatios(t);
    const p99Ms = median(list.map((x) => x.p99));
    neighbourRatios[t] = { rps, p99Ms };
    console.log(
      `${t}: backchannel rps ${rps.toFixed(2)}x its own alone just before (target >= 0.8x), p99 ${p99Ms} ms (target <= 100 ms); ` +
        `alone: ${median(list.map((x) => x.referenceRps)).toFixed(0)} rps, p99 ${median(list.map((x) => x.referenceP99))} ms`,
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
    JSON.stringify(
      {
        samples: Object.fromEntries(samples),
        summary,
        ratios,
        unpaired,
        neighbourRatios,
        seconds,
        rounds,
        connections,
      },
      null,
      2,
    ),
  );
} finally {
  bare.child.kill('SIGTERM');
  sqlite.child.kill('SIGTERM');
  scaleOut?.child.kill('SIGTERM');
  await upstream.close();
  if (typeof backends !== 'string') {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await backends.close();
  }
}
