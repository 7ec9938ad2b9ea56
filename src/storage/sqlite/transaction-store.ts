import { randomBytes } from 'node:crypto';
import type { RegistrationTransaction, TransactionClaim, TransactionStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

const FIELDS = 'id, idp_id, client_id, registration_data, created_at, expires_at';
/** No claim holds the row at `now` (the last parameter). */
const UNCLAIMED = '(claimed_until IS NULL OR claimed_until <= ?)';

/**
 * Registration transactions in SQLite. Every method is one statement, so atomic on its
 * own: `consume` and `consumeClaimed` are `DELETE ... WHERE`, `claim` and `release`
 * conditional `UPDATE`s of the row's claim (`claim_token`, `claimed_until`).
 */
export class SqliteTransactionStore implements TransactionStore {
  private readonly s;

  constructor(
    db: SqliteDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      insert: db.prepare<[string, string, string, string | null, number, number]>(
        `INSERT INTO registration_transactions (${FIELDS}) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      consume: db.prepare<[string, number, number], RegistrationTransaction>(
        `DELETE FROM registration_transactions WHERE id = ? AND expires_at > ? AND ${UNCLAIMED}
         RETURNING ${FIELDS}`,
      ),
      claim: db.prepare<[string, number, string, number, number], RegistrationTransaction>(
        `UPDATE registration_transactions SET claim_token = ?, claimed_until = ?
         WHERE id = ? AND expires_at > ? AND ${UNCLAIMED}
         RETURNING ${FIELDS}`,
      ),
      consumeClaimed: db.prepare<[string, string, number]>(
        'DELETE FROM registration_transactions WHERE id = ? AND claim_token = ? AND claimed_until > ?',
      ),
      release: db.prepare<[string, string, number]>(
        `UPDATE registration_transactions SET claim_token = NULL, claimed_until = NULL
         WHERE id = ? AND claim_token = ? AND claimed_until > ?`,
      ),
      purge: db.prepare<[number, number]>(
        `DELETE FROM registration_transactions WHERE expires_at <= ? AND ${UNCLAIMED}`,
      ),
    };
  }

  async create(t: RegistrationTransaction): Promise<void> {
    this.s.insert.run(t.id, t.idp_id, t.client_id, t.registration_data, t.created_at, t.expires_at);
  }

  async consume(id: string): Promise<RegistrationTransaction | null> {
    const now = this.now();
    return this.s.consume.get(id, now, now) ?? null;
  }

  async claim(id: string, holdMs: number): Promise<TransactionClaim | null> {
    const now = this.now();
    const token = randomBytes(16).toString('base64url');
    const transaction = this.s.claim.get(token, now + holdMs, id, now, now);
    return transaction ? { transaction, token } : null;
  }

  async consumeClaimed(claim: TransactionClaim): Promise<boolean> {
    return this.s.consumeClaimed.run(claim.transaction.id, claim.token, this.now()).changes > 0;
  }

  async release(claim: TransactionClaim): Promise<boolean> {
    return this.s.release.run(claim.transaction.id, claim.token, this.now()).changes > 0;
  }

  async purgeExpired(): Promise<number> {
    const now = this.now();
    return this.s.purge.run(now, now).changes;
  }
}
