import type { Pool, PoolClient } from 'pg';
import type { SigningKeyRecord, SigningKeyStore } from '../types.js';
import { inTransaction } from './database.js';

/**
 * Writers take this lock first: with no active key there is no row to lock, and two
 * concurrent activations would otherwise both pass their checks and one would fail on
 * the unique index. Readers are not blocked by it.
 */
const LOCK = 'LOCK TABLE signing_keys IN EXCLUSIVE MODE';
const DEACTIVATE_OTHERS = 'UPDATE signing_keys SET active = false WHERE active AND kid <> $1';

/**
 * id_token signing keys in PostgreSQL. `add` and `activate` are transactions holding a
 * table lock (key changes are rare); the partial unique index `signing_keys_one_active`
 * makes a second active key impossible even for a writer that bypasses this class.
 */
export class PostgresSigningKeyStore implements SigningKeyStore {
  constructor(private readonly pool: Pool) {}

  async list(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.pool.query<SigningKeyRecord>({
      name: 'signing_keys_list',
      text: `SELECT kid, alg, private_jwk_sealed, public_jwk, created_at, active
        FROM signing_keys ORDER BY created_at, added`,
    });
    return rows;
  }

  async add(key: SigningKeyRecord): Promise<void> {
    await this.write(async (client) => {
      // Deactivate first: the unique index allows one active row at any moment.
      if (key.active) await client.query(DEACTIVATE_OTHERS, [key.kid]);
      await client.query(
        `INSERT INTO signing_keys (kid, alg, private_jwk_sealed, public_jwk, created_at, active)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [key.kid, key.alg, key.private_jwk_sealed, key.public_jwk, key.created_at, key.active],
      );
    });
  }

  async activate(kid: string): Promise<void> {
    await this.write(async (client) => {
      const found = await client.query('SELECT 1 FROM signing_keys WHERE kid = $1', [kid]);
      if (found.rowCount !== 1) throw new Error(`no signing key with kid ${kid}`);
      await client.query(DEACTIVATE_OTHERS, [kid]);
      await client.query('UPDATE signing_keys SET active = true WHERE kid = $1', [kid]);
    });
  }

  private write(change: (client: PoolClient) => Promise<void>): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      await client.query(LOCK);
      await change(client);
    });
  }
}
