import type { Pool, QueryConfig } from 'pg';
import type { RotationResult, TokenRecord, TokenStore } from '../types.js';

interface TokenRow extends Omit<TokenRecord, 'user_details'> {
  /** JSON text, kept byte for byte (JSONB would refuse `\u0000` and reorder keys). */
  user_details: string;
}

const COLUMNS =
  'hash, kind, family_id, client_id, idp_id, sub, scopes, amr, user_details, issued_at, expires_at';

/** Rows to insert, from the JSON array in parameter `$n` (one parameter for any number of tokens). */
const tokensFrom = (n: number) => `INSERT INTO tokens (${COLUMNS}) SELECT ${COLUMNS}
  FROM json_to_recordset($${n}::json) AS t(hash text, kind text, family_id text, client_id text, idp_id text,
    sub text, scopes jsonb, amr jsonb, user_details text, issued_at bigint, expires_at bigint)`;

const SQL = {
  save: tokensFrom(1),
  findLive: `SELECT ${COLUMNS} FROM tokens WHERE hash = $1 AND state = 'live' AND expires_at > $2`,
  // The row lock of the UPDATE makes concurrent rotations wait; after the first commits,
  // the others no longer match `state = 'live'`. Successors are stored in the same statement.
  rotate: `WITH used AS (
      UPDATE tokens SET state = 'rotated'
      WHERE hash = $1 AND kind = 'refresh' AND client_id = $4 AND state = 'live' AND expires_at > $2
      RETURNING ${COLUMNS}),
    successors AS (${tokensFrom(3)} WHERE EXISTS (SELECT 1 FROM used))
    SELECT ${COLUMNS} FROM used`,
  // A presented refresh token that is not live (rotated or revoked) revokes its family,
  // when its own client presents it: another client's replay is an unknown token.
  replay: `WITH presented AS (
      SELECT family_id, state FROM tokens
      WHERE hash = $1 AND kind = 'refresh' AND client_id = $3 AND expires_at > $2),
    family AS (
      UPDATE tokens SET state = 'revoked'
      WHERE family_id = (SELECT family_id FROM presented WHERE state <> 'live') AND state <> 'revoked')
    SELECT state FROM presented`,
  revoke: "UPDATE tokens SET state = 'revoked' WHERE hash = $1 AND state = 'live' AND expires_at > $2",
  revokeFamily:
    "UPDATE tokens SET state = 'revoked' WHERE family_id = $1 AND state = 'live' AND expires_at > $2",
  purge: 'DELETE FROM tokens WHERE expires_at <= $1',
} as const;

function fromRow(row: TokenRow): TokenRecord {
  return { ...row, user_details: JSON.parse(row.user_details) as Record<string, unknown> };
}

/** Tokens as the JSON array `json_to_recordset` reads. */
function toJson(tokens: TokenRecord[]): string {
  return JSON.stringify(tokens.map((t) => ({ ...t, user_details: JSON.stringify(t.user_details) })));
}

/**
 * Tokens in PostgreSQL, by hash. Every method is one statement (so atomic on its own);
 * a rotation is one statement, and a replay's family revocation another.
 */
export class PostgresTokenStore implements TokenStore {
  constructor(
    private readonly pool: Pool,
    private readonly now: () => number = Date.now,
  ) {}

  async save(tokens: TokenRecord[]): Promise<void> {
    if (tokens.length > 0) await this.query('save', [toJson(tokens)]);
  }

  async findLive(hash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.query<TokenRow>('findLive', [hash, this.now()]);
    return rows[0] && fromRow(rows[0]);
  }

  async rotate(hash: string, clientId: string, successors: TokenRecord[]): Promise<RotationResult> {
    const now = this.now();
    const used = await this.query<TokenRow>('rotate', [hash, now, toJson(successors), clientId]);
    if (used.rows[0]) return { outcome: 'rotated', token: fromRow(used.rows[0]) };
    // Not live now: rotated or revoked (a replay), or unknown. A state never returns to
    // live, so nothing can rotate it between the two statements.
    const { rows } = await this.query<{ state: string }>('replay', [hash, now, clientId]);
    const state = rows[0]?.state;
    return state === undefined || state === 'live' ? { outcome: 'unknown' } : { outcome: 'reused' };
  }

  async revoke(hash: string): Promise<boolean> {
    return ((await this.query('revoke', [hash, this.now()])).rowCount ?? 0) > 0;
  }

  async revokeFamily(familyId: string): Promise<number> {
    return (await this.query('revokeFamily', [familyId, this.now()])).rowCount ?? 0;
  }

  async purgeExpired(): Promise<number> {
    return (await this.query('purge', [this.now()])).rowCount ?? 0;
  }

  private query<R extends object = object>(statement: keyof typeof SQL, values: unknown[]) {
    const config: QueryConfig = { name: `tokens_${statement}`, text: SQL[statement], values };
    return this.pool.query<R>(config);
  }
}
