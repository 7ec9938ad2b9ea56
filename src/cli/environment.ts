/**
 * What `registrar serve` and the storage commands read from the environment: the
 * config file (`REGISTRAR_CONFIG`, default the demo `examples/registrar.yaml`), the
 * data folder and the address and storage overrides.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, type RegistrarConfig } from '../config/load.js';

/** The demo configuration, used when `REGISTRAR_CONFIG` is not set. */
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../examples/registrar.yaml', import.meta.url));

function portFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError([`PORT: not a port number: ${value}`]);
  return port;
}

/** The config file's path, as `REGISTRAR_CONFIG` names it or the default. */
export function configPathFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.REGISTRAR_CONFIG ?? DEFAULT_CONFIG;
}

/**
 * Loads and validates the config file named by the environment, with the environment's
 * overrides (`HOST`, `PORT`, `REGISTRAR_DATA_DIR`, `REGISTRAR_STORAGE_URL`,
 * `REGISTRAR_CACHE_URL`) applied. Throws {@link ConfigError} on any problem.
 */
export function loadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): {
  configPath: string;
  config: RegistrarConfig;
} {
  const configPath = configPathFromEnv(env);
  const config = loadConfigFile(configPath, {
    dataDir: env.REGISTRAR_DATA_DIR ?? 'data',
    overrides: {
      host: env.HOST || undefined,
      port: portFromEnv(env.PORT),
      storageUrl: env.REGISTRAR_STORAGE_URL || undefined,
      cacheUrl: env.REGISTRAR_CACHE_URL || undefined,
    },
  });
  return { configPath, config };
}
