import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApplicationRecord, TokenRecord, TokenStore } from '../storage/types.js';

/** What a complete script returned as `user`, checked. */
export interface RegisteredUser {
  id: string;
  amr: string[];
  /** Every other attribute the script returned. */
  details: Record<string, unknown>;
}

export interface IssuedTokens {
  token_type: 'bearer';
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

/** sha256 (hex) of a token value: the only form in which tokens are stored. */
export function tokenHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A new opaque token value: 256 random bits, base64url. */
function newTokenValue(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Issues opaque access tokens (and refresh tokens when the application has them
 * enabled) and stores them only as hashes, with the user, application, IdP, scopes,
 * `amr` and the script's user attributes.
 */
export class TokenService {
  constructor(
    private readonly store: TokenStore,
    private readonly refreshTokenTtlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Tokens for a new grant (a successful complete). */
  async issue(
    application: ApplicationRecord,
    idpId: string,
    user: RegisteredUser,
    scopes: string[],
  ): Promise<IssuedTokens> {
    const familyId = randomUUID();
    const { records, issued } = this.make(
      application,
      idpId,
      user.id,
      user.amr,
      user.details,
      scopes,
      familyId,
    );
    await this.store.save(records);
    return issued;
  }

  /**
   * Rotates a refresh token presented by `application`: the old one is retired and a
   * new access (and refresh) token of the same grant is issued. Undefined when the
   * token is not a live refresh token of this application; the application presenting
   * one of its own that was already used or revoked revokes its whole family (another
   * application's token, in any state, changes nothing).
   */
  async refresh(
    application: ApplicationRecord,
    value: string,
  ): Promise<(IssuedTokens & { scope: string }) | undefined> {
    const hash = tokenHash(value);
    const live = await this.store.findLive(hash);
    if (!live) {
      // A replay of the application's own used token revokes its family; the store
      // leaves other applications' tokens alone.
      await this.store.rotate(hash, application.client_id, []);
      return undefined;
    }
    if (live.kind !== 'refresh' || live.client_id !== application.client_id) return undefined;
    const { records, issued } = this.make(
      application,
      live.idp_id,
      live.sub,
      live.amr,
      live.user_details,
      live.scopes,
      live.family_id,
    );
    const result = await this.store.rotate(hash, application.client_id, records);
    return result.outcome === 'rotated' ? { ...issued, scope: live.scopes.join(' ') } : undefined;
  }

  /** The live token with this value, if any. */
  find(value: string): Promise<TokenRecord | undefined> {
    return this.store.findLive(tokenHash(value));
  }

  /**
   * Revokes a token of `application` (RFC 7009): a refresh token takes its whole grant
   * with it. Tokens of other applications, and unknown ones, are left alone.
   */
  async revoke(application: ApplicationRecord, value: string): Promise<void> {
    const token = await this.find(value);
    if (!token || token.client_id !== application.client_id) return;
    if (token.kind === 'refresh') await this.store.revokeFamily(token.family_id);
    else await this.store.revoke(token.hash);
  }

  private make(
    application: ApplicationRecord,
    idpId: string,
    sub: string,
    amr: string[],
    details: Record<string, unknown>,
    scopes: string[],
    familyId: string,
  ): { records: TokenRecord[]; issued: IssuedTokens } {
    const now = this.now();
    const base = {
      family_id: familyId,
      client_id: application.client_id,
      idp_id: idpId,
      sub,
      scopes,
      amr,
      user_details: details,
      issued_at: now,
    };
    const access = newTokenValue();
    const records: TokenRecord[] = [
      {
        ...base,
        hash: tokenHash(access),
        kind: 'access',
        expires_at: now + application.access_token_ttl_seconds * 1000,
      },
    ];
    const issued: IssuedTokens = {
      token_type: 'bearer',
      access_token: access,
      expires_in: application.access_token_ttl_seconds,
    };
    if (application.refresh_tokens) {
      const refresh = newTokenValue();
      records.push({
        ...base,
        hash: tokenHash(refresh),
        kind: 'refresh',
        expires_at: now + this.refreshTokenTtlSeconds * 1000,
      });
      issued.refresh_token = refresh;
    }
    return { records, issued };
  }
}
