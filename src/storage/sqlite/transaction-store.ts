import type { RegistrationTransaction, TransactionStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** Registration transactions in SQLite; `consume` is one `DELETE ... RETURNING` statement. */
export class SqliteTransactionStore implements TransactionStore {
  private readonly insertStmt;
  private readonly consumeStmt;
  private readonly purgeStmt;

  constructor(
    db: SqliteDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.insertStmt = db.prepare<[string, string, string, string | null, number, number]>(
      `INSERT INTO registration_transactions (id, idp_id, client_id, registration_data, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.consumeStmt = db.prepare<[string, number], RegistrationTransaction>(
      `DELETE FROM registration_transactions WHERE id = ? AND expires_at > ?
       RETURNING id, idp_id, client_id, registration_data, created_at, expires_at`,
    );
    this.purgeStmt = db.prepare<[number]>('DELETE FROM registration_transactions WHERE expires_at <= ?');
  }

  async create(t: RegistrationTransaction): Promise<void> {
    this.insertStmt.run(t.id, t.idp_id, t.client_id, t.registration_data, t.created_at, t.expires_at);
  }

  async consume(id: string): Promise<RegistrationTransaction | null> {
    return this.consumeStmt.get(id, this.now()) ?? null;
  }

  async purgeExpired(): Promise<number> {
    return this.purgeStmt.run(this.now()).changes;
  }
}
