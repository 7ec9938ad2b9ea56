/** `registrar config validate FILE`: the start-up validation of a config file, alone. */
import { ConfigError, loadConfigFile } from '../config/load.js';
import { onePositional, parseCommandArgs } from './usage.js';

/**
 * Validates FILE exactly as start-up does (schema, cross references, script files
 * found and compiling, with line and column) without opening storage or starting
 * sandboxes. Prints `FILE: valid (counts)` to stdout and returns 0, or prints each
 * problem to stderr and returns 1.
 */
export function configValidate(args: string[]): number {
  const { positionals } = parseCommandArgs(args, {});
  const file = onePositional(positionals, 'FILE', 'config validate');
  let config: ReturnType<typeof loadConfigFile>;
  try {
    // The data folder only names the default storage URL; nothing is opened or created.
    config = loadConfigFile(file, { dataDir: process.env.REGISTRAR_DATA_DIR ?? 'data' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.problems.flatMap((problem) => problem.split('\n').map((line) => line.trim()));
    process.stderr.write(`${file}: invalid configuration\n${lines.map((line) => `  ${line}\n`).join('')}`);
    return 1;
  }
  const counts = [
    `${config.api_clients.length} api clients`,
    `${config.applications.length} applications`,
    `${config.identity_providers.length} identity providers`,
    `${config.properties.length} properties`,
  ];
  process.stdout.write(`${file}: valid (${counts.join(', ')})\n`);
  return 0;
}
