import { randomBytes } from 'node:crypto';
import type { RegistrationTransaction, TransactionClaim, TransactionStore } from '../types.js';
import type { RedisClient } from './connection.js';

/** Where transactions live, under the connection's key prefix: `<prefix>txn:<id>`. */
export const TRANSACTION_KEY_SPACE = 'txn:';
/** Where a transaction's claim lives while one holds: `<prefix>txn-claim:<id>`, the holder's token. */
export const CLAIM_KEY_SPACE = 'txn-claim:';

/** Shortest time a transaction's key is kept in Redis (its own expiry is checked on consume). */
const MIN_STORED_MS = 250;

/**
 * Lua scripts, each atomic in Redis. KEYS[1] is the transaction, KEYS[2] its claim.
 * `consume`: GETDEL unless claimed. `claim`: SET NX of the claim with the hold as PX,
 * returning the transaction; the transaction's key is kept at least as long as the
 * claim, so its holder can still consume it. `consumeClaimed` / `release`: when the
 * claim is the caller's (ARGV[1]), delete both / the claim.
 */
const LUA = {
  consume: `if redis.call('EXISTS', KEYS[2]) == 1 then return false end
return redis.call('GETDEL', KEYS[1])`,
  claim: `local json = redis.call('GET', KEYS[1])
if not json then return false end
if not redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return false end
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return json`,
  consumeClaimed: `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
return redis.call('DEL', KEYS[1])`,
  release: `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[2])`,
} as const;

/**
 * Registration transactions in Redis: one JSON string per transaction at
 * `<prefix>txn:<id>`, created with `SET ... PX <until expires_at> NX`; a claim is a
 * second key `<prefix>txn-claim:<id>` holding the claimant's token, set NX with the
 * hold as its native expiry, so a claim lapses by itself. Consuming, claiming and
 * releasing are Lua scripts (atomic in Redis; `GETDEL` needs Redis 6.2 or newer), so of
 * many concurrent consumers or claimants exactly one gets it. Redis expires
 * transactions natively; `consume` and `claim` also check `expires_at` against this
 * node's clock, so a transaction is never honoured past its expiry even when the
 * clocks drift. Does not own the connection: whoever opened it closes it.
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
    // id is taken (NX) as in the other backends; consume and claim check expires_at and
    // never return it expired.
    const px = Math.max(MIN_STORED_MS, Math.ceil(t.expires_at - this.now()));
    const stored = await this.redis.set(TRANSACTION_KEY_SPACE + t.id, JSON.stringify(record), 'PX', px, 'NX');
    if (stored !== 'OK') throw new Error('a registration transaction with this id exists');
  }

  async consume(id: string): Promise<RegistrationTransaction | null> {
    const json = await this.run('consume', id);
    if (json === null) return null;
    const t = parsed(json, id);
    return t.expires_at > this.now() ? t : null;
  }

  async claim(id: string, holdMs: number): Promise<TransactionClaim | null> {
    const token = randomBytes(16).toString('base64url');
    const json = await this.run('claim', id, token, Math.max(1, Math.ceil(holdMs)));
    if (json === null) return null;
    const claim = { transaction: parsed(json, id), token };
    if (claim.transaction.expires_at > this.now()) return claim;
    await this.release(claim); // expired (Redis had not dropped it yet): not claimable
    return null;
  }

  async consumeClaimed(claim: TransactionClaim): Promise<boolean> {
    return (await this.run('consumeClaimed', claim.transaction.id, claim.token)) === 1;
  }

  async release(claim: TransactionClaim): Promise<boolean> {
    return (await this.run('release', claim.transaction.id, claim.token)) === 1;
  }

  /** Always 0: Redis removes expired transactions itself. */
  async purgeExpired(): Promise<number> {
    return 0;
  }

  /** Runs one of the {@link LUA} scripts on transaction `id` and its claim. */
  private async run(script: keyof typeof LUA, id: string, ...args: Array<string | number>): Promise<unknown> {
    return this.redis.eval(LUA[script], 2, TRANSACTION_KEY_SPACE + id, CLAIM_KEY_SPACE + id, ...args);
  }
}

/** The stored transaction `id` in `json`; throws when it is malformed. */
function parsed(json: unknown, id: string): RegistrationTransaction {
  const t = typeof json === 'string' ? parseTransaction(json) : undefined;
  if (t === undefined || t.id !== id) throw new Error('a stored registration transaction is malformed');
  return t;
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
