/**
 * The fuzzing loop: `requests` requests, seeded and replayable, over keep-alive
 * connections (undici) with a bounded concurrency, a share of them malformed HTTP over
 * raw sockets; every answer goes through the oracle, and /healthz is asked along the
 * way to notice a crash.
 */
import { Pool } from 'undici';
import { RawConnection, type RawResponse } from '../helpers/raw-http.js';
import { type Answer, checkAnswer, credentialProblem, errorCode } from './oracle.js';
import { Rng } from './prng.js';
import { type RawCase, rawCase } from './raw-cases.js';
import { type FuzzRequest, type Harvest, makeRequest } from './requests.js';
import type { FuzzTarget } from './target.js';

/** How a run is made. */
export interface FuzzOptions {
  seed: number;
  requests: number;
  /** Requests in flight at once (16). */
  concurrency?: number;
  /** Share of the requests that are raw-socket exchanges (0.05). */
  rawShare?: number;
  /** Only this request index (a replay). */
  only?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Called with the first finding of each kind of problem, as it happens. */
  onFirstFinding?: (finding: Finding) => void;
}

/** One problem, with what is needed to replay the request that caused it. */
export interface Finding {
  index: number;
  problem: string;
  request: string;
  answer?: string;
  /** For a 5xx: the server's log lines about it. */
  logs?: string[];
}

/** What a run saw. */
export interface FuzzReport {
  seed: number;
  requests: number;
  ms: number;
  findings: Finding[];
  /** Answers by status. */
  statuses: Record<string, number>;
  /** Requests made with each registered route's own method, by route. */
  routesHit: Record<string, number>;
  /** 2xx answers by route. */
  successes: Record<string, number>;
  /** Answers by the request's kind of credentials and the answer's status and error code. */
  outcomes: Record<string, number>;
  /** Requests undici refused to send (a generator mistake, not a finding). */
  unsent: number;
}

const ANSWER_TIMEOUT_MS = 15_000;
const HEALTH_EVERY = 500;
const KEEP_HARVEST = 64;

/** Runs the fuzzer against `target`. */
export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const { seed, requests } = options;
  const rawShare = options.rawShare ?? 0.05;
  const log = options.log ?? (() => {});
  const pool = new Pool(target.origin, {
    connections: options.concurrency ?? 16,
    pipelining: 1,
    headersTimeout: ANSWER_TIMEOUT_MS,
    bodyTimeout: ANSWER_TIMEOUT_MS,
  });
  const secrets = new Set(target.secrets);
  const harvest: Harvest = { accessTokens: [], refreshTokens: [], transactions: [] };
  const report: FuzzReport = {
    seed,
    requests: options.only === undefined ? requests : 1,
    ms: 0,
    findings: [],
    statuses: {},
    routesHit: Object.fromEntries(target.routes.map((r) => [`${r.method} ${r.url}`, 0])),
    successes: {},
    outcomes: {},
    unsent: 0,
  };
  const started = Date.now();
  let crashed = false;
  const seen = new Set<string>();
  const find = (index: number, problem: string, request: string, answer?: string) => {
    const finding = { index, problem, request, ...(answer === undefined ? {} : { answer }) };
    report.findings.push(finding);
    const kind = problem.replace(/"[^"]*"|\d+/g, '…');
    if (!seen.has(kind)) {
      seen.add(kind);
      queueMicrotask(() => options.onFirstFinding?.(finding));
    }
  };
  const count = (status: number) => {
    report.statuses[status] = (report.statuses[status] ?? 0) + 1;
  };

  const healthy = async (index: number) => {
    try {
      const res = await pool.request({
        path: '/healthz',
        method: 'GET',
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      await res.body.text();
      if (res.statusCode === 200) return true;
      find(index, `/healthz answered ${res.statusCode}`, 'GET /healthz');
    } catch (error) {
      find(index, `/healthz did not answer: ${String(error)}`, 'GET /healthz');
    }
    crashed = true;
    return false;
  };

  const one = async (index: number) => {
    const rng = Rng.forRequest(seed, index);
    if (rng.chance(rawShare)) return raw(index, rawCase(rng));
    const request = makeRequest(rng, index, target.routes, harvest);
    for (const secret of request.secrets) secrets.add(secret);
    if (request.route.startsWith(`${request.method} `)) {
      report.routesHit[request.route] = (report.routesHit[request.route] ?? 0) + 1;
    }
    const t0 = performance.now();
    let answer: Answer;
    try {
      const res = await pool.request({
        path: request.path,
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
      });
      const body = await res.body.text();
      answer = { status: res.statusCode, headers: res.headers, body, ms: Math.round(performance.now() - t0) };
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
        report.unsent++;
        return;
      }
      find(index, `no answer: ${code} ${String(error)}`, describe(request));
      return;
    }
    count(answer.status);
    const outcome = `${request.credentials} ${answer.status} ${errorCode(answer) ?? ''}`.trim();
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    if (answer.status < 300) report.successes[request.route] = (report.successes[request.route] ?? 0) + 1;
    const problems = checkAnswer(request, answer, secrets);
    if (answer.status === 503 && request.path.startsWith('/readyz') && !(await storageUp(target))) {
      problems.splice(problems.indexOf('status 503'), 1); // storage really is down: /readyz says so
    }
    const refused = credentialProblem(request, answer);
    if (refused) problems.push(refused);
    const logs = answer.status >= 500 ? target.logsFor(String(answer.headers['x-request-id'])) : undefined;
    for (const problem of problems) {
      find(index, problem, describe(request), preview(answer.body));
      const finding = report.findings[report.findings.length - 1];
      if (finding && logs) finding.logs = logs;
    }
    reap(request, answer, harvest);
  };

  const raw = async (index: number, exchange: RawCase) => {
    const what = `raw ${exchange.name}: ${JSON.stringify(exchange.bytes.toString('latin1').slice(0, 300))}`;
    let connection: RawConnection | undefined;
    try {
      connection = await RawConnection.open(target.port);
      const t0 = performance.now();
      connection.send(exchange.bytes);
      if (exchange.end) connection.end();
      for (let k = 0; k < exchange.answers; k++) {
        let res: RawResponse;
        try {
          res = await connection.response(ANSWER_TIMEOUT_MS);
        } catch (error) {
          if (!(exchange.mayCloseSilently && k === 0))
            find(index, `raw: answer ${k + 1} missing: ${String(error)}`, what);
          return;
        }
        count(res.status);
        if (res.status < 200) continue;
        const answer = { ...res, ms: Math.round(performance.now() - t0) };
        const asked = { method: 'RAW', path: '', credentials: 'other' };
        for (const problem of checkAnswer(asked, answer, secrets))
          find(index, problem, what, preview(res.body));
      }
    } catch (error) {
      find(index, `raw: ${String(error)}`, what);
    } finally {
      connection?.destroy();
    }
  };

  let next = options.only ?? 0;
  const last = options.only === undefined ? requests : options.only + 1;
  const worker = async () => {
    while (!crashed && next < last) {
      const index = next++;
      await one(index);
      if (index > 0 && index % HEALTH_EVERY === 0) {
        await healthy(index);
        target.trimLogs();
        if (index % (HEALTH_EVERY * 10) === 0)
          log(`fuzz: ${index}/${requests} requests, ${report.findings.length} findings`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  if (!crashed) await healthy(last);
  await pool.close();
  report.ms = Date.now() - started;
  return report;
}

/** True when the configuration storage and the CACHE store both answer. */
async function storageUp(target: FuzzTarget): Promise<boolean> {
  const { storage } = target.registrar.deps;
  try {
    await Promise.all([storage.config.ping(), storage.cache.ping()]);
    return true;
  } catch {
    return false;
  }
}

/** Keeps tokens and transaction ids from successful answers, for later requests. */
function reap(request: FuzzRequest, answer: Answer, harvest: Harvest): void {
  if (answer.status !== 200 || !request.route.startsWith('POST /oauth/custom-registration/')) return;
  try {
    const body = JSON.parse(answer.body) as {
      transaction_id?: string;
      oauth_token?: { access_token?: string; refresh_token?: string };
    };
    const keep = (list: string[], value: string | undefined) => {
      if (typeof value !== 'string') return;
      list.push(value);
      if (list.length > KEEP_HARVEST) list.shift();
    };
    keep(harvest.transactions, body.transaction_id);
    keep(harvest.accessTokens, body.oauth_token?.access_token);
    keep(harvest.refreshTokens, body.oauth_token?.refresh_token);
  } catch {
    // Not JSON: nothing to keep.
  }
}

/** The request, printable, long values shortened. */
export function describe(request: FuzzRequest): string {
  const short = (text: string) =>
    text.length > 200 ? `${text.slice(0, 200)}… (${text.length} chars)` : text;
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.map(short) : short(value),
    ]),
  );
  const body =
    request.body === undefined ? '' : ` body=${JSON.stringify(short(request.body.toString('latin1')))}`;
  return `#${request.index} ${request.method} ${short(request.path)} (route ${request.route}, credentials ${request.credentials}) headers=${JSON.stringify(headers)}${body}`;
}

function preview(body: string): string {
  return body.length > 300 ? `${body.slice(0, 300)}…` : body;
}
