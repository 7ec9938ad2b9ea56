import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqliteDatabase } from './database.js';

/** The SQLite driver's entry, resolved here: the evaluated worker resolves nothing by itself. */
const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3');
/** How often the thread checkpoints. */
const INTERVAL_MS = 50;
/** SQLite's own default: what a connection goes back to if the thread stops. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/**
 * The thread's code (CommonJS, evaluated, plain JavaScript: no TypeScript loader needed):
 * a connection of its own that runs a passive checkpoint every few milliseconds.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    // Busy or locked this time: the next round tries again.
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode SQLite file on a thread of its own. SQLite otherwise checkpoints
 * inside whichever commit pushes the WAL past 1 000 pages, and in `synchronous = NORMAL`
 * that checkpoint fsyncs the WAL and the database: the committing thread (the server's
 * event loop) then stalls on the disk. Measured on the development VM, random-key CACHE
 * inserts took 43–50 µs per row of the committing thread's time with in-line checkpoints and
 * 23–24 µs with this thread, for the same CPU; durability is unchanged (the same fsyncs, on
 * this thread). `db` (the server's connection) stops checkpointing by itself while the
 * thread runs, and starts again if the thread stops.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private closed = false;

  constructor(
    path: string,
    private readonly db: SqliteDatabase,
    onStop: (error: Error) => void = () => {},
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: DRIVER, path, intervalMs: INTERVAL_MS },
      // Not the parent's flags (a TypeScript loader would only slow the start).
      execArgv: [],
    });
    this.worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    const stopped = (error: Error) => {
      if (this.closed) return;
      this.closed = true;
      if (db.open) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      onStop(error);
    };
    this.worker.on('error', (error) => stopped(error));
    this.worker.on('exit', (code) => stopped(new Error(`the WAL checkpoint thread exited (code ${code})`)));
  }

  /** Stops the thread and closes its connection (before the server's own connection closes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage('close');
    await exited;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }
}
