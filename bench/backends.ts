/**
 * PostgreSQL and Redis for the benchmark's scale-out run: the ones named by
 * REGISTRAR_TEST_POSTGRES_URL / REGISTRAR_TEST_REDIS_URL, or throwaway ones started with
 * scripts/test-services.sh (Debian's packages). A fresh database per run, dropped after.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScaleOutBackends {
  storageUrl: string;
  cacheUrl: string;
  close(): Promise<void>;
}

const SCRIPT = new URL('../scripts/test-services.sh', import.meta.url).pathname;

/** The backends, or the reason there are none (the run then covers SQLite only). */
export async function scaleOutBackends(): Promise<ScaleOutBackends | string> {
  let postgres = process.env.REGISTRAR_TEST_POSTGRES_URL;
  let redis = process.env.REGISTRAR_TEST_REDIS_URL;
  let started = false;
  if (!postgres || !redis) {
    try {
      const exports = execFileSync('bash', [SCRIPT, 'start'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      postgres = /REGISTRAR_TEST_POSTGRES_URL=(\S+)/.exec(exports)?.[1];
      redis = /REGISTRAR_TEST_REDIS_URL=(\S+)/.exec(exports)?.[1];
      started = true;
    } catch (error) {
      return `no PostgreSQL/Redis: set REGISTRAR_TEST_POSTGRES_URL and REGISTRAR_TEST_REDIS_URL, or install postgresql and redis-server (${(error as Error).message.split('\n')[0]})`;
    }
  }
  if (!postgres || !redis) return 'scripts/test-services.sh printed no URLs';
  const database = `registrar_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgres });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const storage = new URL(postgres);
  storage.pathname = `/${database}`;
  return {
    storageUrl: storage.toString(),
    cacheUrl: redis,
    async close() {
      const client = new pg.Client({ connectionString: postgres });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
      if (started) execFileSync('bash', [SCRIPT, 'stop'], { stdio: 'ignore' });
    },
  };
}
