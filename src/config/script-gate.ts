import { createHash } from 'node:crypto';
import { failureDetails, type ScriptTestRun } from '../admin/script-test-run.js';
import type { Logger } from '../logging.js';
import { ZERO_COUNTS } from '../storage/rollout-rows.js';
import type {
  AuditEventStore,
  ConfigStore,
  RolloutStore,
  ScriptTestStore,
  StoredScriptTestCase,
} from '../storage/types.js';
import { ConfigError, type RegistrarConfig, type ResolvedIdentityProvider } from './load.js';
import { SCRIPT_KINDS, type ScriptKind } from './schema.js';

/** Runs `cases` against `source` as `idp`'s `kind` script (dry runs in the real sandbox). */
export type ScriptTestRunner = (
  idp: ResolvedIdentityProvider,
  kind: ScriptKind,
  source: string,
  cases: readonly StoredScriptTestCase[],
) => Promise<ScriptTestRun>;

/** What the config file's gate needs: the stores and a way to run tests. */
export interface ConfigGate {
  scriptTests: ScriptTestStore;
  auditEvents: AuditEventStore;
  runTests: ScriptTestRunner;
  /** Canaries: one whose active version the file replaced is aborted. */
  rollouts?: RolloutStore;
}

/** A file script whose tests failed, activated because its IdP sets `force_scripts`. */
export interface ForcedScript {
  idpId: string;
  kind: ScriptKind;
  sha256: string;
  run: ScriptTestRun;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The activation gate for the config file, before its IdPs are written: each script
 * whose source differs from the stored active version (so applying it makes a new
 * version) runs its test cases (the file's `tests` for that kind, else the stored ones).
 * Failures of IdPs without `force_scripts` refuse the start: one ConfigError listing
 * every failed check. Failures of IdPs with it are returned, to be activated and audited.
 */
export async function gateConfigScripts(
  config: RegistrarConfig,
  store: ConfigStore,
  gate: ConfigGate,
  logger: Logger,
): Promise<ForcedScript[]> {
  const problems: string[] = [];
  const forced: ForcedScript[] = [];
  for (const [i, idp] of config.identity_providers.entries()) {
    const existing = await store.getIdentityProvider(idp.id);
    for (const kind of SCRIPT_KINDS) {
      const script = idp.scripts[kind];
      if (!script) continue;
      const hash = sha256(script.source);
      if (existing?.scripts[kind]?.sha256 === hash) continue;
      const cases = idp.tests[kind] ?? (existing ? await gate.scriptTests.list(idp.id, kind) : []);
      if (cases.length === 0) continue;
      const run = await gate.runTests(idp, kind, script.source, cases);
      if (run.failed === 0) continue;
      const at = `identity_providers[${i}].scripts.${kind}`;
      if (idp.force_scripts) {
        forced.push({ idpId: idp.id, kind, sha256: hash, run });
        logger.warn(
          { idp: idp.id, script_kind: kind, failures: failureDetails(run).map((d) => d.message) },
          `${at}: ${run.failed} stored test case(s) failed; activated anyway (force_scripts)`,
        );
        continue;
      }
      for (const detail of failureDetails(run)) {
        problems.push(`${at}: test case "${detail.case}" failed: ${detail.message}`);
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError([
      ...problems,
      'a script that fails its stored test cases is not activated: fix it or its tests, or set force_scripts: true on its identity provider',
    ]);
  }
  return forced;
}

/** Stores the file's test lists (after the IdPs exist) and audits each forced script. */
export async function finishConfigGate(
  config: RegistrarConfig,
  store: ConfigStore,
  gate: ConfigGate,
  forced: readonly ForcedScript[],
): Promise<void> {
  for (const idp of config.identity_providers) {
    for (const kind of SCRIPT_KINDS) {
      const cases = idp.tests[kind];
      if (cases) await gate.scriptTests.replace(idp.id, kind, cases);
      if (gate.rollouts) await abortStaleCanary(store, gate.rollouts, idp.id, kind);
    }
  }
  for (const { idpId, kind, sha256: hash, run } of forced) {
    const active = (await store.getIdentityProvider(idpId))?.scripts[kind];
    const failures = failureDetails(run).map(({ case: name, check, expected, got }) => ({
      case: name,
      check,
      expected,
      got,
    }));
    await gate.auditEvents.append({
      at: Date.now(),
      client_id: null,
      resource: 'script',
      resource_id: `${idpId}/${kind}`,
      action: 'save_version',
      before: null,
      after: {
        version: active?.version ?? null,
        sha256: hash,
        via: 'config_file',
        tests: { passed: run.passed, failed: run.failed },
        activated: true,
        forced: true,
        failures,
      },
    });
  }
}

/** Aborts a running canary whose previous version is no longer the active one (the file changed the script). */
async function abortStaleCanary(
  store: ConfigStore,
  rollouts: RolloutStore,
  idpId: string,
  kind: ScriptKind,
): Promise<void> {
  const running = await rollouts.getRollout(idpId, kind);
  if (running?.state !== 'running') return;
  const active = (await store.getIdentityProvider(idpId))?.scripts[kind]?.version;
  if (active === running.from_version) return;
  await rollouts.endRollout(idpId, kind, {
    to_version: running.to_version,
    state: 'aborted',
    reason: `the config file made version ${active ?? '(none)'} active`,
    delta: { from: { ...ZERO_COUNTS }, to: { ...ZERO_COUNTS } },
    at: Date.now(),
  });
}
