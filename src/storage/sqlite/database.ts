import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type SqliteDatabase = Database.Database;

/** The file path of a `sqlite:PATH` URL. */
export function sqlitePath(url: string): string {
  if (!url.startsWith('sqlite:')) throw new Error(`not a sqlite URL: ${url}`);
  return url.slice('sqlite:'.length);
}

/**
 * Opens (creating when needed) a SQLite database in WAL mode. With `migrate`, brings
 * the schema up to date inside an immediate transaction, so concurrent openers wait.
 */
export function openSqlite(path: string, options: { migrate: boolean }): SqliteDatabase {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (options.migrate) migrate(db);
  return db;
}

function migrate(db: SqliteDatabase): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this Registrar (${MIGRATIONS.length})`,
      );
    }
    for (const [index, sql] of MIGRATIONS.entries()) {
      if (index < current) continue;
      db.exec(sql);
      db.pragma(`user_version = ${index + 1}`);
    }
  }).immediate();
}
