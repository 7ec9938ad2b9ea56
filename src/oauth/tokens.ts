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
