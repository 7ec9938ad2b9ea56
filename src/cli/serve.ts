/**
 * `registrar serve` (and `node dist/server.js`): reads the environment, loads and
 * validates the config file, opens storage, starts the sandbox and listens.
 * Everything else is in `buildApp`.
 */
import { buildApp } from '../app.js';
import { createDeps } from '../bootstrap.js';
import { ConfigError } from '../config/load.js';
import { createLogger, type Logger } from '../logging.js';
import { loadSecretKey, SHARED_STORAGE_NEEDS_KEY } from '../security/secret-key.js';
import { loadConfigFromEnv } from './environment.js';

async function start(logger: Logger): Promise<void> {
  const { configPath, config } = loadConfigFromEnv();
  const sharedStorage = config.storage.url.startsWith('postgres');
  const secretKey = loadSecretKey(
    process.env.REGISTRAR_SECRET_KEY,
    config.data_dir,
    (message) => logger.warn(message),
    sharedStorage,
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

/**
 * Starts the server and resolves once it listens; it then runs until SIGINT or
 * SIGTERM (exit 0 after a clean close). A start-up failure is logged (a config
 * problem also to stderr, without a stack trace) and exits the process with 1.
 */
export async function serve(): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  try {
    await start(logger);
  } catch (error) {
    if (error instanceof Error && error.message === SHARED_STORAGE_NEEDS_KEY) {
      logger.fatal(error.message);
      console.error(error.message);
    } else if (error instanceof ConfigError) {
      logger.fatal(error.message);
      console.error(error.message);
    } else {
      logger.fatal({ err: error }, 'Registrar failed to start');
    }
    process.exit(1);
  }
}
