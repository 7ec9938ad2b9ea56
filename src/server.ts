/**
 * Starts Registrar: reads the environment, loads and validates the config file,
 * opens storage, starts the sandbox and listens. Everything else is in `buildApp`.
 */
import { fileURLToPath } from 'node:url';
import { buildApp } from './app.js';
import { createDeps } from './bootstrap.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { createLogger } from './logging.js';
import { loadSecretKey } from './security/secret-key.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../examples/registrar.yaml', import.meta.url));

const logger = createLogger(process.env.LOG_LEVEL ?? 'info');

function portFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError([`PORT: not a port number: ${value}`]);
  return port;
}

async function main(): Promise<void> {
  const configPath = process.env.REGISTRAR_CONFIG ?? DEFAULT_CONFIG;
  const dataDir = process.env.REGISTRAR_DATA_DIR ?? 'data';
  const config = loadConfigFile(configPath, {
    dataDir,
    overrides: {
      host: process.env.HOST || undefined,
      port: portFromEnv(process.env.PORT),
      storageUrl: process.env.REGISTRAR_STORAGE_URL || undefined,
      cacheUrl: process.env.REGISTRAR_CACHE_URL || undefined,
    },
  });
  const secretKey = loadSecretKey(process.env.REGISTRAR_SECRET_KEY, config.data_dir, (message) =>
    logger.warn(message),
  );
  const app = buildApp(config, await createDeps(config, { logger, secretKey }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  await app.listen({ host: config.server.host, port: config.server.port });
  logger.info({ config: configPath, storage: config.storage.url }, 'Registrar is ready');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    logger.fatal(error.message);
    console.error(error.message);
  } else {
    logger.fatal({ err: error }, 'Registrar failed to start');
  }
  process.exit(1);
});
