/** The CLI's usage text and its usage errors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** What `registrar --help` prints. */
export const USAGE = `Usage: registrar <command> [options]

Commands:
  serve                              start the server (configured by the environment, as npm start)
  config validate FILE               check a config file as start-up does; opens no storage
  script test FILE [options]         dry-run a script locally in the sandbox, on a scratch CACHE
      --kind backchannel|init|complete   script kind (default backchannel)
      --data STRING                      requestPayload
      --user-identifier S, --registration-data S
      --hook-context-json JSON           hookContextCustomParams: {"name": ["value", ...]}
      --cache-json JSON                  seeds the scratch CACHE: {"key": value, ...}
      --properties-json JSON             PROPERTIES: {"id": "value", ...}
      --allow URL (repeatable)           let HTTP.request call scheme://host[:port] (engine.http.allow)
      --allow-address CIDR (repeatable)  special addresses it may reach (engine.http.allow_addresses)
      --cpu-ms N, --wall-ms N, --memory-mb N   limits (defaults 1000, 10000, 64)
      --json                             print the report as JSON
      --cases FILE                       run the YAML/JSON test cases in FILE instead (exit 2 when any fails)
  script replay IDP RECORDING [options]
                                     replay a recorded execution locally against storage (as serve
                                     would open it): empty scratch CACHE, no outbound calls
      --version N                        against a stored version (default: the active one)
      --source FILE                      against a draft
      --json                             print the comparison as JSON (exit 2 when it differs)
  client create CLIENT_ID [--scope S]... [--name NAME]
                                     create an API client in storage; prints its new secret once
                                     (scopes: user_registration, admin, token_introspection)
  client rotate-secret CLIENT_ID     give an API client a new secret; prints it once
  help, --help                       this text

Environment (serve, client, script replay): REGISTRAR_CONFIG, REGISTRAR_DATA_DIR, REGISTRAR_STORAGE_URL,
REGISTRAR_CACHE_URL; serve also HOST, PORT, REGISTRAR_SECRET_KEY, LOG_LEVEL.

Exit codes: 0 success; 1 usage, configuration or storage error; 2 the tested script (or a test case) failed, or a replay differed.
`;

/** A command line that does not make sense: reported on stderr with a pointer to the usage, exit 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `parseArgs` in strict mode with positionals, its errors turned into {@link UsageError}s. */
export function parseCommandArgs<const T extends ParseArgsConfig['options']>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The one positional a command takes, or a {@link UsageError} naming it. */
export function onePositional(positionals: string[], name: string, command: string): string {
  const [first, ...rest] = positionals;
  if (first === undefined || first === '') throw new UsageError(`${command}: missing ${name}`);
  if (rest.length > 0) throw new UsageError(`${command}: unexpected argument ${rest[0]}`);
  return first;
}
