/** `registrar script test FILE`: a dry run of a script file, locally, in the real sandbox. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type DryRunReport, type DryRunRequest, dryRun, dryRunRequestSchema } from '../admin/dry-run.js';
import type { ScriptTestCase } from '../admin/script-test-cases.js';
import { compileCheck, describeCompileError } from '../config/compile-check.js';
import { readTestFile } from '../config/load.js';
import {
  configFileSchema,
  limitFields,
  propertyId,
  propertyValue,
  SCRIPT_KINDS,
  type ScriptKind,
} from '../config/schema.js';
import { ScriptEngine } from '../engine/engine.js';
import { createLogger } from '../logging.js';
import { egressSchema } from '../outbound/allow-entry.js';
import { OutboundHttp } from '../outbound/client.js';
import { egressFor } from '../outbound/effective-policy.js';
import { OutboundMetrics } from '../outbound/metrics.js';
import type { IdentityProviderRecord } from '../storage/types.js';
import { runCases } from './script-test-cases.js';
import { onePositional, parseCommandArgs, UsageError } from './usage.js';

const OPTIONS = {
  kind: { type: 'string' },
  data: { type: 'string' },
  'user-identifier': { type: 'string' },
  'registration-data': { type: 'string' },
  'hook-context-json': { type: 'string' },
  'cache-json': { type: 'string' },
  'properties-json': { type: 'string' },
  'cpu-ms': { type: 'string' },
  'wall-ms': { type: 'string' },
  'memory-mb': { type: 'string' },
  json: { type: 'boolean' },
  cases: { type: 'string' },
  allow: { type: 'string', multiple: true },
  'allow-address': { type: 'string', multiple: true },
} as const;

/** The limit flags and the engine fields they set (checked against the config file's bounds). */
const LIMIT_FLAGS = [
  ['cpu-ms', 'cpu_time_ms'],
  ['wall-ms', 'wall_time_ms'],
  ['memory-mb', 'memory_mb'],
] as const;

const propertiesSchema = z.record(propertyId, propertyValue);

/** The IdP a local script test runs as: the egress comes from the flags alone. */
const LOCAL_IDP: IdentityProviderRecord = {
  id: 'local',
  name: null,
  flow: 'one_step',
  enabled: true,
  limits: {},
  scripts: {},
};

/** Parses a flag's JSON and checks it against `schema`; a {@link UsageError} naming the flag otherwise. */
function jsonFlag<T>(flag: string, text: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--${flag}: not JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`);
    throw new UsageError(`--${flag}: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Runs FILE once as a dry run (as the admin API's `.../scripts/{kind}/test` does) in one
 * sandbox process started for it, with the engine defaults or the limits given, on a
 * scratch CACHE seeded by `--cache-json`. Prints the report (`--json`: as JSON) and
 * returns 0 when the script returned a status, 2 when it failed, 1 when it does not
 * compile (no sandbox is started then). With `--cases FILE` (YAML or JSON test cases, as
 * the admin API stores them) it runs each case instead: 0 when all pass, 2 when any fails.
 */
export async function scriptTest(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS);
  const file = onePositional(positionals, 'FILE', 'script test');
  const kind = (values.kind ?? 'backchannel') as ScriptKind;
  if (!SCRIPT_KINDS.includes(kind)) throw new UsageError(`--kind: must be one of ${SCRIPT_KINDS.join(', ')}`);
  const engineConfig = { ...configFileSchema.parse({}).engine, sandbox_processes: 1 };
  for (const [flag, field] of LIMIT_FLAGS) {
    const text = values[flag];
    if (text === undefined) continue;
    if (!/^\d+$/.test(text)) throw new UsageError(`--${flag}: not a whole number: ${text}`);
    const parsed = limitFields[field].safeParse(Number(text));
    if (!parsed.success) throw new UsageError(`--${flag}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    engineConfig[field] = parsed.data;
  }
  const inputFlags = [
    'data',
    'user-identifier',
    'registration-data',
    'hook-context-json',
    'cache-json',
  ] as const;
  const given = inputFlags.find((flag) => values[flag] !== undefined);
  if (values.cases !== undefined && given) {
    throw new UsageError(`--${given}: not with --cases (each case gives its own input)`);
  }
  const request: DryRunRequest = {
    data: values.data ?? null,
    user_identifier: values['user-identifier'] ?? null,
    registration_data: values['registration-data'] ?? null,
    hook_context_custom_params:
      jsonFlag(
        'hook-context-json',
        values['hook-context-json'],
        dryRunRequestSchema.shape.hook_context_custom_params,
      ) ?? null,
  };
  const cache = jsonFlag('cache-json', values['cache-json'], z.record(z.string(), z.json()));
  if (cache) request.cache = cache;
  const properties = jsonFlag('properties-json', values['properties-json'], propertiesSchema) ?? {};
  // Outbound calls: off unless --allow names hosts, checked as the config file's engine.http.
  const egress = egressSchema.safeParse({
    allow: values.allow ?? [],
    allow_addresses: values['allow-address'] ?? [],
  });
  if (!egress.success) {
    const issue = egress.error.issues[0];
    const flag = issue?.path[0] === 'allow' ? '--allow' : '--allow-address';
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid'}`);
  }
  engineConfig.http = { ...engineConfig.http, ...egress.data };

  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(`${file}: cannot read script (${(error as Error).message})\n`);
    return 1;
  }
  const compileError = compileCheck(source, file);
  if (compileError) {
    process.stderr.write(`${file}: ${describeCompileError(compileError)}\n`);
    return 1;
  }

  let cases: ScriptTestCase[] | undefined;
  if (values.cases !== undefined) {
    const problems: string[] = [];
    cases = readTestFile(values.cases, '--cases', problems);
    if (!cases) {
      process.stderr.write(`${problems.join('\n')}\n`);
      return 1;
    }
  }

  const engine = await ScriptEngine.start({
    engine: engineConfig,
    cacheUrl: null,
    cache: null,
    properties: { values: properties, sensitive: [] },
    outbound: new OutboundHttp(engineConfig.http, new OutboundMetrics()),
    // The engine's own diagnostics (a sandbox process that died, say) go to stderr.
    logger: createLogger(process.env.LOG_LEVEL ?? 'warn', process.stderr),
  });
  let report: DryRunReport;
  try {
    const limits = {
      cpu_time_ms: engineConfig.cpu_time_ms,
      wall_time_ms: engineConfig.wall_time_ms,
      memory_mb: engineConfig.memory_mb,
    };
    const target = {
      idpId: 'local',
      kind,
      source,
      filename: file,
      limits,
      outbound: egressFor(engineConfig, LOCAL_IDP),
    };
    if (cases) return await runCases({ engine, engineConfig, ...target }, cases, values.json === true);
    report = await dryRun(engine, engineConfig, target, request);
  } finally {
    await engine.stop();
  }
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : summary(report));
  return report.error ? 2 : 0;
}

/** The report as readable text. */
function summary(report: DryRunReport): string {
  const lines = [
    `status: ${report.status ?? '(none: the script failed)'}`,
    `response payload: ${report.response_payload ?? 'null'}`,
  ];
  if (report.registration_data !== null) lines.push(`registration data: ${report.registration_data}`);
  lines.push(`user: ${JSON.stringify(report.user)}`);
  lines.push(`logs:${report.logs.length === 0 ? ' (none)' : ''}`);
  for (const line of report.logs) lines.push(`  [${line.level}] ${line.message}`);
  if (report.logs_dropped > 0) lines.push(`  (${report.logs_dropped} more lines dropped past the cap)`);
  for (const call of report.outbound) {
    lines.push(`outbound: ${call.method} ${call.url} -> ${call.status ?? call.error} (${call.ms} ms)`);
  }
  lines.push(`cpu: ${report.cpu_ms} ms, wall: ${report.wall_ms} ms`);
  lines.push(`cache afterwards: ${JSON.stringify(report.cache)}`);
  if (report.error) {
    const { kind, message, line } = report.error;
    lines.push(`error: ${kind}: ${message}${line === null ? '' : ` (line ${line})`}`);
  }
  return `${lines.join('\n')}\n`;
}
