/**
 * The registration stores' types: two_step transactions between `init` and `complete`,
 * and issued tokens. Re-exported by `types.ts`, where every storage interface is found.
 */

/** A two_step registration between `init` and `complete`: single use, bound to one IdP and one application. */
export interface RegistrationTransaction {
  /** Opaque, at least 128 random bits. */
  id: string;
  idp_id: string;
  /** The application (OAuth client) that made it. */
  client_id: string;
  /** What the init script returned as `registrationData`, for the complete script. */
  registration_data: string | null;
  created_at: number;
  expires_at: number;
}

/** A hold on a transaction while its complete script runs (see {@link TransactionStore.claim}). */
export interface TransactionClaim {
  transaction: RegistrationTransaction;
  /** Opaque, random: what makes the holder the holder. */
  token: string;
}

/**
 * Registration transactions. Lives with the CACHE (Redis in a scale-out installation).
 * A transaction is claimed while its complete script runs: a claimed transaction is
 * unknown to every other claim and consume until its holder releases or consumes it,
 * or the claim lapses (after the hold it was made for; a node that dies holding it
 * does not keep it).
 */
export interface TransactionStore {
  create(transaction: RegistrationTransaction): Promise<void>;
  /**
   * Removes and returns the live, unclaimed transaction `id` in one atomic step: of
   * many concurrent consumers exactly one gets it; an expired, unknown or claimed one
   * is null.
   */
  consume(id: string): Promise<RegistrationTransaction | null>;
  /**
   * Claims the live, unclaimed transaction `id` for `holdMs` milliseconds in one atomic
   * step: of many concurrent claimants exactly one gets it. An expired, unknown or
   * claimed one is null.
   */
  claim(id: string, holdMs: number): Promise<TransactionClaim | null>;
  /**
   * Removes the claimed transaction in one atomic step, when the claim still holds (not
   * lapsed, released or consumed): true then. The transaction's own expiry no longer
   * matters once it is claimed.
   */
  consumeClaimed(claim: TransactionClaim): Promise<boolean>;
  /**
   * Ends a claim that still holds, leaving the transaction as it was (live until its
   * own expiry); false when the claim no longer held.
   */
  release(claim: TransactionClaim): Promise<boolean>;
  /** Removes expired transactions that no claim holds; returns how many. */
  purgeExpired(): Promise<number>;
}

/** An issued token, stored only by the sha256 of its value. */
export interface TokenRecord {
  /** sha256 (hex) of the token value; the value itself is never stored. */
  hash: string;
  kind: 'access' | 'refresh';
  /** Every token descending from one grant shares a family; revoking it revokes them all. */
  family_id: string;
  client_id: string;
  idp_id: string;
  /** The user id the complete script returned. */
  sub: string;
  scopes: string[];
  amr: string[];
  /** The script's other user attributes (for id_token, introspection). */
  user_details: Record<string, unknown>;
  issued_at: number;
  expires_at: number;
}

export type RotationResult =
  | { outcome: 'rotated'; token: TokenRecord }
  /** The refresh token was already rotated or revoked: its family is now revoked. */
  | { outcome: 'reused' }
  /** No refresh token of this client with that hash (never issued, expired, of another kind or another client). */
  | { outcome: 'unknown' };

/** Access and refresh tokens. Every method is atomic on its own. */
export interface TokenStore {
  /** Stores new tokens together (an access token and its refresh token). */
  save(tokens: TokenRecord[]): Promise<void>;
  /** The live (unexpired, unrevoked, not rotated) token with this hash. */
  findLive(hash: string): Promise<TokenRecord | undefined>;
  /**
   * Uses refresh token `hash`, presented by client `clientId`, once: when it is live,
   * marks it rotated and stores `successors` in the same step and returns it. When it
   * was already rotated or revoked (a replay), revokes its whole family instead. A
   * token issued to another client is `unknown` to `clientId`, whatever its state:
   * nothing is rotated, stored or revoked.
   */
  rotate(hash: string, clientId: string, successors: TokenRecord[]): Promise<RotationResult>;
  /** Revokes one token; true when a live one was revoked. */
  revoke(hash: string): Promise<boolean>;
  /** Revokes every token of a family; returns how many were live. */
  revokeFamily(familyId: string): Promise<number>;
  purgeExpired(): Promise<number>;
}
