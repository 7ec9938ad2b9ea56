import type { RotationResult, TokenRecord, TokenStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

interface TokenRow {
  hash: string;
  kind: 'access' | 'refresh';
  family_id: string;
  client_id: string;
  idp_id: string;
  sub: string;
  scopes: string;
  amr: string;
  user_details: string;
  issued_at: number;
  expires_at: number;
  state: 'live' | 'rotated' | 'revoked';
}

const COLUMNS =
  'hash, kind, family_id, client_id, idp_id, sub, scopes, amr, user_details, issued_at, expires_at, state';

function fromRow({ state: _state, ...row }: TokenRow): TokenRecord {
  return {
    ...row,
    scopes: JSON.parse(row.scopes) as string[],
    amr: JSON.parse(row.amr) as string[],
    user_details: JSON.parse(row.user_details) as Record<string, unknown>,
  };
}

/** Tokens in SQLite, by hash; rotation and family revocation are single transactions. */
export class SqliteTokenStore implements TokenStore {
  private readonly s;
  private readonly saveTx;
  private readonly rotateTx;

  constructor(
    db: SqliteDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      insert: db.prepare<
        [string, string, string, string, string, string, string, string, string, number, number]
      >(
        `INSERT INTO tokens (hash, kind, family_id, client_id, idp_id, sub, scopes, amr, user_details, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE hash = ?`),
      markRotated: db.prepare<[string]>(
        "UPDATE tokens SET state = 'rotated' WHERE hash = ? AND state = 'live'",
      ),
      revoke: db.prepare<[string, number]>(
        "UPDATE tokens SET state = 'revoked' WHERE hash = ? AND state = 'live' AND expires_at > ?",
      ),
      revokeFamily: db.prepare<[string, number]>(
        "UPDATE tokens SET state = 'revoked' WHERE family_id = ? AND state = 'live' AND expires_at > ?",
      ),
      revokeFamilyAll: db.prepare<[string]>(
        "UPDATE tokens SET state = 'revoked' WHERE family_id = ? AND state != 'revoked'",
      ),
      purge: db.prepare<[number]>('DELETE FROM tokens WHERE expires_at <= ?'),
    };
    this.saveTx = db.transaction((tokens: TokenRecord[]) => {
      for (const t of tokens) {
        this.s.insert.run(
          t.hash,
          t.kind,
          t.family_id,
          t.client_id,
          t.idp_id,
          t.sub,
          JSON.stringify(t.scopes),
          JSON.stringify(t.amr),
          JSON.stringify(t.user_details),
          t.issued_at,
          t.expires_at,
        );
      }
    });
    this.rotateTx = db.transaction(
      (hash: string, clientId: string, successors: TokenRecord[], now: number): RotationResult => {
        const row = this.s.get.get(hash);
        // Another client's token is unknown to this one: its replay must not revoke the owner's grant.
        if (row?.kind !== 'refresh' || row.client_id !== clientId || row.expires_at <= now) {
          return { outcome: 'unknown' };
        }
        if (row.state !== 'live') {
          this.s.revokeFamilyAll.run(row.family_id);
          return { outcome: 'reused' };
        }
        this.s.markRotated.run(hash);
        this.saveTx(successors);
        return { outcome: 'rotated', token: fromRow(row) };
      },
    );
  }

  async save(tokens: TokenRecord[]): Promise<void> {
    this.saveTx(tokens);
  }

  async findLive(hash: string): Promise<TokenRecord | undefined> {
    const row = this.s.get.get(hash);
    return row && row.state === 'live' && row.expires_at > this.now() ? fromRow(row) : undefined;
  }

  async rotate(hash: string, clientId: string, successors: TokenRecord[]): Promise<RotationResult> {
    return this.rotateTx.immediate(hash, clientId, successors, this.now());
  }

  async revoke(hash: string): Promise<boolean> {
    return this.s.revoke.run(hash, this.now()).changes > 0;
  }

  async revokeFamily(familyId: string): Promise<number> {
    return this.s.revokeFamily.run(familyId, this.now()).changes;
  }

  async purgeExpired(): Promise<number> {
    return this.s.purge.run(this.now()).changes;
  }
}
