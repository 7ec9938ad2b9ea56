import { readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { type ScriptTestCase, scriptTestListSchema } from '../admin/script-test-cases.js';
import { deepFreeze } from '../deep-freeze.js';
import type { ScriptSource } from '../storage/types.js';
import { compileCheck, describeCompileError } from './compile-check.js';
import { type ConfigFile, configFileSchema, SCRIPT_KINDS, type ScriptKind } from './schema.js';

/** A script with its source resolved and checked to compile. */
export type { ScriptSource };

export type ResolvedIdentityProvider = Omit<ConfigFile['identity_providers'][number], 'scripts' | 'tests'> & {
  scripts: Partial<Record<ScriptKind, ScriptSource>>;
  /** Stored test cases per kind, read from their files; a kind not named keeps its stored cases. */
  tests: Partial<Record<ScriptKind, ScriptTestCase[]>>;
};

/** The validated, resolved and frozen configuration the app runs on. */
export type RegistrarConfig = Omit<ConfigFile, 'identity_providers' | 'storage' | 'cache'> & {
  storage: ConfigFile['storage'] & { url: string };
  cache: ConfigFile['cache'] & { url: string };
  identity_providers: ResolvedIdentityProvider[];
  /** Folder for the SQLite file and the generated secret key. */
  data_dir: string;
};

/** Start-up configuration problems, each naming the path it is about. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Folder that relative script paths are resolved against. */
  baseDir: string;
  dataDir: string;
  /** Environment overrides (HOST, PORT, storage URLs) applied after validation. */
  overrides?: { host?: string; port?: number; storageUrl?: string; cacheUrl?: string };
}

/** Reads a YAML or JSON config file and returns the validated, frozen configuration. */
export function loadConfigFile(path: string, options: Omit<LoadOptions, 'baseDir'>): RegistrarConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${path}: cannot read config file (${(error as Error).message})`]);
  }
  let raw: unknown;
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError([`${path}: does not parse (${(error as Error).message})`]);
  }
  return parseConfig(raw ?? {}, { ...options, baseDir: dirname(resolve(path)) });
}

/** Validates a config object (as read from a file) and resolves its scripts. */
export function parseConfig(raw: unknown, options: LoadOptions): RegistrarConfig {
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map(formatIssue));
  const file = parsed.data;
  const problems: string[] = [];
  const identityProviders = file.identity_providers.map((idp, i) => {
    const scripts: Partial<Record<ScriptKind, ScriptSource>> = {};
    for (const kind of SCRIPT_KINDS) {
      const ref = idp.scripts[kind];
      if (ref === undefined) continue;
      const at = `identity_providers[${i}].scripts.${kind}`;
      const script = resolveScript(ref, options.baseDir, `${idp.id}/${kind}.js`, at, problems);
      if (script) scripts[kind] = script;
    }
    const tests: Partial<Record<ScriptKind, ScriptTestCase[]>> = {};
    for (const kind of SCRIPT_KINDS) {
      const ref = idp.tests?.[kind];
      if (ref === undefined) continue;
      const at = `identity_providers[${i}].tests.${kind}`;
      const cases = typeof ref === 'string' ? readTestFile(resolve(options.baseDir, ref), at, problems) : ref;
      if (cases) tests[kind] = cases;
    }
    return { ...idp, scripts, tests };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  const o = options.overrides ?? {};
  const storageUrl = o.storageUrl ?? file.storage.url ?? `sqlite:${resolve(options.dataDir, 'registrar.db')}`;
  return deepFreeze({
    ...file,
    server: { ...file.server, host: o.host ?? file.server.host, port: o.port ?? file.server.port },
    storage: { ...file.storage, url: storageUrl },
    cache: {
      ...file.cache,
      url: o.cacheUrl ?? file.cache.url ?? defaultCacheUrl(storageUrl, options.dataDir),
    },
    identity_providers: identityProviders,
    data_dir: resolve(options.dataDir),
  });
}

/**
 * The CACHE gets its own SQLite file beside the storage one: its constant writes would
 * otherwise invalidate the page cache of every connection reading configuration.
 */
function defaultCacheUrl(storageUrl: string, dataDir: string): string {
  const folder = storageUrl.startsWith('sqlite:') ? dirname(storageUrl.slice('sqlite:'.length)) : dataDir;
  return `sqlite:${join(resolve(folder), 'cache.db')}`;
}

function resolveScript(
  ref: string | { source: string },
  baseDir: string,
  filename: string,
  at: string,
  problems: string[],
): ScriptSource | undefined {
  let source: string;
  if (typeof ref === 'string') {
    const path = resolve(baseDir, ref);
    try {
      source = readFileSync(path, 'utf8');
    } catch {
      problems.push(`${at}: file not found: ${path}`);
      return undefined;
    }
  } else {
    source = ref.source;
  }
  const compileError = compileCheck(source, filename);
  if (compileError) {
    problems.push(`${at}: ${describeCompileError(compileError)}`);
    return undefined;
  }
  return { source, filename };
}

/** Reads a YAML or JSON file of test cases (as `registrar script test --cases` does). */
export function readTestFile(path: string, at: string, problems: string[]): ScriptTestCase[] | undefined {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = extname(path) === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push(
      `${at}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${(error as Error).message})`}: ${path}`,
    );
    return undefined;
  }
  const parsed = scriptTestListSchema.safeParse(raw ?? []);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) problems.push(`${at}: ${path}: ${formatIssue(issue)}`);
  return undefined;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${path ? `${path}.` : ''}${key}: unknown key`).join('\n  ');
  }
  return `${path || '(root)'}: ${issue.message}`;
}
