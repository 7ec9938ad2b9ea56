import type { RegistrationTransaction, TransactionStore } from '../types.js';
import type { RedisClient } from './connection.js';

/** Where transactions live, under the connection's key prefix: `<prefix>txn:<id>`. */
export const TRANSACTION_KEY_SPACE = 'txn:';

/** Shortest time a transaction's key is kept in Redis (its own expiry is checked on consume). */
const MIN_STORED_MS = 250;

/**
 * Registration transactions in Redis: one JSON string per transaction at
 * `<prefix>txn:<id>`, created with `SET ... PX <until expires_at> NX` and consumed with
 * `GETDEL` (Redis 6.2 or newer), so of many concurrent consumers exactly one gets it.
 * Redis expires them natively; `consume` also checks `expires_at` against this node's
 * clock, so a transaction is never honoured past its expiry even when the clocks drift.
 * Does not own the connection: whoever opened it closes it.
 */
export class RedisTransactionStore implements TransactionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores a new transaction; rejects, changing nothing, when the id exists. */
  async create(t: RegistrationTransaction): Promise<void> {
    const record: RegistrationTransaction = {
      id: t.id,
      idp_id: t.idp_id,
      client_id: t.client_id,
      registration_data: t.registration_data,
      created_at: t.created_at,
      expires_at: t.expires_at,
    };
    // An already (or almost) expired transaction is still stored for 250 ms, so that the
    // id is claimed (NX) as in the other backends; consume checks expires_at and never
    // returns it expired.
    const px = Math.max(MIN_STORED_MS, Math.ceil(t.expires_at - this.now()));
    const stored = await this.redis.set(TRANSACTION_KEY_SPACE + t.id, JSON.stringify(record), 'PX', px, 'NX');
    if (stored !== 'OK') throw new Error('a registration transaction with this id exists');
  }

  async consume(id: string): Promise<RegistrationTransaction | null> {
    const json = await this.redis.getdel(TRANSACTION_KEY_SPACE + id);
    if (json === null) return null;
    const t = parseTransaction(json);
    if (t === undefined || t.id !== id) throw new Error('a stored registration transaction is malformed');
    return t.expires_at > this.now() ? t : null;
  }

  /** Always 0: Redis removes expired transactions itself. */
  async purgeExpired(): Promise<number> {
    return 0;
  }
}

/** The transaction in `json`, or undefined when it does not have a transaction's shape. */
function parseTransaction(json: string): RegistrationTransaction | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const t = value as Record<string, unknown>;
  if (
    typeof t.id !== 'string' ||
    typeof t.idp_id !== 'string' ||
    typeof t.client_id !== 'string' ||
    (typeof t.registration_data !== 'string' && t.registration_data !== null) ||
    typeof t.created_at !== 'number' ||
    typeof t.expires_at !== 'number'
  ) {
    return undefined;
  }
  return {
    id: t.id,
    idp_id: t.idp_id,
    client_id: t.client_id,
    registration_data: t.registration_data,
    created_at: t.created_at,
    expires_at: t.expires_at,
  };
}
