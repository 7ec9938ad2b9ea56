import { z } from 'zod';
import { compileCheck } from '../config/compile-check.js';
import {
  idpLimitsSchema,
  rateLimitsSchema,
  recordSchema,
  SCRIPT_KINDS,
  type ScriptKind,
} from '../config/schema.js';
import type { FieldProblem } from '../errors.js';
import { idpEgressSchema } from '../outbound/allow-entry.js';
import type { IdentityProviderRecord, ScriptSource } from '../storage/types.js';
import { invalidFields } from './validation.js';

/** A script as the admin API takes it: inline source. */
export const scriptInput = z.strictObject({
  source: z
    .string()
    .min(1)
    .max(1024 * 1024),
});

export const scriptKindParam = z.enum(SCRIPT_KINDS);

export const limitsSchema = idpLimitsSchema;

/** A version's metadata as the admin API shows it. */
export const scriptVersionView = z.object({
  version: z.int(),
  sha256: z.string(),
  filename: z.string(),
});

/** An IdP as the admin API shows it: its fields and the active version of each script (sources are read per script). */
export const identityProviderView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  flow: z.enum(['one_step', 'two_step']),
  enabled: z.boolean(),
  limits: limitsSchema,
  /** The IdP's own outbound allow-list, when it has one. */
  http: idpEgressSchema.optional(),
  /** Its declarative rate limits, when it has any. */
  rate_limits: rateLimitsSchema.optional(),
  /** Which executions are recorded for replay, when any are. */
  record: recordSchema.optional(),
  scripts: z.partialRecord(scriptKindParam, scriptVersionView),
});

export function idpView(idp: IdentityProviderRecord): z.infer<typeof identityProviderView> {
  const scripts: Partial<Record<ScriptKind, z.infer<typeof scriptVersionView>>> = {};
  for (const kind of SCRIPT_KINDS) {
    const script = idp.scripts[kind];
    if (script) scripts[kind] = { version: script.version, sha256: script.sha256, filename: script.filename };
  }
  const { id, name, flow, enabled, limits, http, rate_limits, record } = idp;
  return {
    id,
    name,
    flow,
    enabled,
    limits,
    ...(http ? { http } : {}),
    ...(rate_limits?.length ? { rate_limits } : {}),
    ...(record ? { record } : {}),
    scripts,
  };
}

/** The compile problem of one script, naming its field, line and column; undefined when it compiles. */
export function compileProblem(field: string, script: ScriptSource): FieldProblem | undefined {
  const error = compileCheck(script.source, script.filename);
  if (!error) return undefined;
  const where =
    error.line === null ? '' : ` (line ${error.line}${error.column ? `, column ${error.column}` : ''})`;
  const problem: FieldProblem = { field, message: `${error.message}${where}` };
  if (error.line !== null) problem.line = error.line;
  if (error.column !== null) problem.column = error.column;
  return problem;
}

/** `invalid_request` when any given script does not compile (nothing is saved then). */
export function rejectUncompilable(
  scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  prefix = 'scripts.',
): void {
  const problems: FieldProblem[] = [];
  for (const kind of SCRIPT_KINDS) {
    const script = scripts[kind];
    const problem = script ? compileProblem(`${prefix}${kind}`, script) : undefined;
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw invalidFields('a script does not compile', problems);
}

/**
 * The flow's script rules, as in the config file: a complete script always; an init
 * script exactly when the flow is two_step. `kinds` are the kinds active after the change.
 */
export function flowProblems(flow: 'one_step' | 'two_step', kinds: ReadonlySet<ScriptKind>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!kinds.has('complete'))
    problems.push({ field: 'scripts.complete', message: 'a complete script is required' });
  if (flow === 'two_step' && !kinds.has('init')) {
    problems.push({ field: 'scripts.init', message: 'a two_step identity provider needs an init script' });
  }
  if (flow === 'one_step' && kinds.has('init')) {
    problems.push({
      field: 'scripts.init',
      message: 'init scripts are only used by two_step identity providers (set it to null to remove it)',
    });
  }
  return problems;
}

/** The filename a script of an IdP runs under in stack traces and logs. */
export const scriptFilename = (idpId: string, kind: ScriptKind) => `${idpId}/${kind}.js`;
