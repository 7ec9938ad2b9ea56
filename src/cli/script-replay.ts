/** `registrar script replay IDP RECORDING`: replays a recorded execution locally, against storage. */
import { readFileSync } from 'node:fs';
import { type ReplayReport, replayRecording, replaySource } from '../admin/replay.js';
import { readProperties } from '../config/apply.js';
import { compileCheck, describeCompileError } from '../config/compile-check.js';
import { ScriptEngine } from '../engine/engine.js';
import { RegistrarError } from '../errors.js';
import { createLogger } from '../logging.js';
import { loadSecretKey } from '../security/secret-key.js';
import { openStorage } from '../storage/open.js';
import { loadConfigFromEnv } from './environment.js';
import { parseCommandArgs, UsageError } from './usage.js';

const OPTIONS = {
  source: { type: 'string' },
  version: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/**
 * Reads recording RECORDING of IdP IDP from the storage the server uses (config file
 * and environment as for `serve`), replays it in one local sandbox process against the
 * active version, `--version N` or the draft in `--source FILE` (empty scratch CACHE, no
 * outbound calls, the installation's properties, masked as the server masks them), and
 * prints the comparison (`--json`: the admin API's answer). Returns 0 when it ended as
 * recorded, 2 when it differs, 1 on a usage, storage or lookup problem.
 */
export async function scriptReplay(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS);
  const [idpId, rid, extra] = positionals;
  if (idpId === undefined || rid === undefined)
    throw new UsageError('script replay: missing IDP or RECORDING');
  if (extra !== undefined) throw new UsageError(`script replay: unexpected argument ${extra}`);
  if (!/^[1-9][0-9]{0,14}$/.test(rid))
    throw new UsageError(`script replay: RECORDING is not a recording id: ${rid}`);
  if (values.source !== undefined && values.version !== undefined) {
    throw new UsageError('--source: not with --version');
  }
  if (values.version !== undefined && !/^[1-9][0-9]{0,8}$/.test(values.version)) {
    throw new UsageError(`--version: not a version number: ${values.version}`);
  }
  let draft: string | undefined;
  if (values.source !== undefined) {
    try {
      draft = readFileSync(values.source, 'utf8');
    } catch (error) {
      process.stderr.write(`${values.source}: cannot read script (${(error as Error).message})\n`);
      return 1;
    }
    const compileError = compileCheck(draft, values.source);
    if (compileError) {
      process.stderr.write(`${values.source}: ${describeCompileError(compileError)}\n`);
      return 1;
    }
  }

  const { config } = loadConfigFromEnv();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', process.stderr);
  const secretKey = loadSecretKey(
    process.env.REGISTRAR_SECRET_KEY,
    config.data_dir,
    (message) => process.stderr.write(`${message}\n`),
    config.storage.url.startsWith('postgres'),
  );
  const storage = await openStorage(config);
  try {
    const idp = await storage.config.getIdentityProvider(idpId);
    const recording = idp && (await storage.recordings.get(idp.id, Number(rid)));
    if (!idp || !recording) {
      process.stderr.write(`script replay: no recording ${idpId}/${rid}\n`);
      return 1;
    }
    const body =
      draft !== undefined ? { source: draft } : values.version ? { version: Number(values.version) } : {};
    const { source, ran } = await replaySource(storage.config, idp, recording, body);
    const engine = await ScriptEngine.start({
      engine: { ...config.engine, sandbox_processes: 1, max_sandbox_processes: 1 },
      cacheUrl: null,
      cache: null,
      properties: await readProperties(storage.config, secretKey),
      logger,
    });
    let replay: ReplayReport;
    try {
      replay = await replayRecording(engine, config.engine, idp, recording, source, ran);
    } finally {
      await engine.stop();
    }
    process.stdout.write(values.json ? `${JSON.stringify(replay, null, 2)}\n` : summary(replay));
    return replay.same ? 0 : 2;
  } catch (error) {
    if (error instanceof RegistrarError) {
      process.stderr.write(`script replay: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await storage.close();
  }
}

/** The comparison as readable text. */
function summary(replay: ReplayReport): string {
  const end = (e: ReplayReport['recorded']) =>
    e.error
      ? `error ${e.error.kind}: ${e.error.message}`
      : `status ${e.status}, payload ${JSON.stringify(e.response_payload)}`;
  const lines = [
    `ran: ${replay.ran === 'draft' ? 'the draft' : `version ${replay.ran}`}`,
    `recorded: ${end(replay.recorded)}`,
    `replayed: ${end(replay.replayed)}`,
    replay.same ? 'same' : 'different:',
  ];
  for (const d of replay.differences) {
    lines.push(
      `  ${d.field}: recorded ${JSON.stringify(d.recorded)}, replayed ${JSON.stringify(d.replayed)}`,
    );
  }
  for (const line of replay.report.logs) lines.push(`  [${line.level}] ${line.message}`);
  return `${lines.join('\n')}\n`;
}
