/**
 * The `registrar` command line (`bin/registrar.js` loads this module): dispatches to
 * one command and sets the exit code. `serve` keeps the process running; the other
 * commands finish and exit.
 */
import { ConfigError } from '../config/load.js';
import { USAGE, UsageError } from './usage.js';

type Command = (args: string[]) => number | Promise<number>;

/**
 * Commands by their words. Each loads its module when it runs, so `--help` or
 * `config validate` does not load the server or the sandbox supervisor.
 */
const COMMANDS: Record<string, Command> = {
  serve: async (args) => {
    if (args.length > 0) throw new UsageError(`serve: unexpected argument ${args[0]}`);
    await (await import('./serve.js')).serve();
    return 0;
  },
  'config validate': async (args) => (await import('./config-validate.js')).configValidate(args),
  'script test': async (args) => (await import('./script-test.js')).scriptTest(args),
  'script replay': async (args) => (await import('./script-replay.js')).scriptReplay(args),
  'client create': async (args) => (await import('./client.js')).clientCreate(args),
  'client rotate-secret': async (args) => (await import('./client.js')).clientRotateSecret(args),
};

const GROUPS = new Set(Object.keys(COMMANDS).map((name) => name.split(' ')[0]));

/**
 * Runs the command `argv` names (without node and the script path) and returns the
 * exit code: 0 success, 1 usage, configuration or storage error, 2 a tested script
 * failed (or a replay differed from its recording). Help (`help`, `--help`, `-h`, no arguments) prints the usage to stdout.
 */
export async function main(argv: string[]): Promise<number> {
  const [first, second] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const two = `${first} ${second}`;
  const name = two in COMMANDS ? two : first in COMMANDS ? first : undefined;
  try {
    if (name === undefined) {
      throw new UsageError(
        GROUPS.has(first) ? `unknown ${first} command: ${second ?? '(none)'}` : `unknown command: ${first}`,
      );
    }
    const command = COMMANDS[name] as Command;
    const rest = argv.slice(name.split(' ').length);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`registrar: ${error.message}\nRun 'registrar --help' for usage.\n`);
      return 1;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(`registrar: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
