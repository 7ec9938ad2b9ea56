import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from 'jose';
import { seal, unseal } from '../security/sealed-box.js';
import type { SigningKeyRecord, SigningKeyStore } from '../storage/types.js';
import { cleanUserAttributes } from './user-claims.js';

/** The one algorithm id_tokens are signed with. */
export const ID_TOKEN_ALG = 'ES256';

/** Claim names a script's user attributes can never set (see `user-claims.ts`). */
export { RESERVED_CLAIMS } from './user-claims.js';

/** What an id_token is about: the user, the audience, and the user's other attributes. */
export interface IdTokenClaims {
  sub: string;
  /** The application's client_id. */
  aud: string | string[];
  amr?: string[];
  /** The script's user attributes; reserved claim names and prototype member names among them are dropped. */
  [attribute: string]: unknown;
}

export interface IdTokenSignerOptions {
  /** The `iss` claim. */
  issuer: string;
  /** The clock (milliseconds), for tests. */
  now?: () => number;
}

/** The key that signs: its id and the private key, imported non-extractable. */
interface ActiveKey {
  kid: string;
  key: CryptoKey;
}

/** The public members of a P-256 JWK: all a JWKS may show. */
type PublicEcJwk = Required<Pick<JWK, 'kty' | 'crv' | 'x' | 'y'>>;

const associatedData = (kid: string) => `signing-key:${kid}`;

/**
 * Signs id_tokens (ES256) with the active key of a {@link SigningKeyStore} and
 * publishes every stored public key as a JWKS. The private JWK is stored only sealed
 * with the secret key, and held in memory only as a non-extractable key.
 *
 * A signer keeps the key it loaded (or rotated to) until it is loaded again; keys
 * are never removed, so a token signed by another process's key still verifies
 * against {@link IdTokenSigner.jwks}, which reads the store on every call.
 */
export class IdTokenSigner {
  // True private fields: neither the secret key nor the signing key shows when the
  // signer is inspected or serialised.
  readonly #secretKey: Buffer;
  #current: ActiveKey;

  private constructor(
    private readonly store: SigningKeyStore,
    secretKey: Buffer,
    private readonly issuer: string,
    private readonly now: () => number,
    current: ActiveKey,
  ) {
    this.#secretKey = secretKey;
    this.#current = current;
  }

  /**
   * A signer on the store's active key; on first start (no active key) generates one
   * and stores it, sealed. Rejects when the active key cannot be decrypted with
   * `secretKey` (a different secret key than the one it was sealed with).
   */
  static async load(
    store: SigningKeyStore,
    secretKey: Buffer,
    options: IdTokenSignerOptions,
  ): Promise<IdTokenSigner> {
    if (!options.issuer) throw new TypeError('an id_token issuer is required');
    const now = options.now ?? Date.now;
    const active = (await store.list()).find((record) => record.active);
    const current = active ? await openKey(active, secretKey) : await addKey(store, secretKey, now());
    return new IdTokenSigner(store, secretKey, options.issuer, now, current);
  }

  /** The kid new tokens are signed with. */
  get activeKid(): string {
    return this.#current.kid;
  }

  /**
   * Generates a new key, stores it as the one active key and signs with it from now
   * on. Earlier keys stay in the JWKS, so tokens they signed still verify. Returns the
   * new kid.
   */
  async rotate(): Promise<string> {
    this.#current = await addKey(this.store, this.#secretKey, this.now());
    return this.#current.kid;
  }

  /**
   * A compact JWS (header `alg`, `kid`, `typ: JWT`) with `iss`, `sub`, `aud`, `iat`,
   * `exp` (`iat` + `ttlSeconds`), `amr` when given, and every other attribute whose
   * name is not a reserved claim, without `__proto__`, `constructor` and `prototype`
   * members at any depth (see {@link cleanUserAttributes}).
   */
  async sign(claims: IdTokenClaims, ttlSeconds: number): Promise<string> {
    const { sub, aud, amr, ...attributes } = claims;
    if (typeof sub !== 'string' || sub === '') throw new TypeError('id_token sub must be a non-empty string');
    if (!isAudience(aud)) throw new TypeError('id_token aud must be a non-empty string or array of them');
    if (amr !== undefined && !isStringArray(amr)) {
      throw new TypeError('id_token amr must be an array of strings');
    }
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new TypeError('id_token lifetime must be a positive whole number of seconds');
    }
    const iat = Math.floor(this.now() / 1000);
    const payload = {
      iss: this.issuer,
      sub,
      aud,
      iat,
      exp: iat + ttlSeconds,
      ...(amr === undefined ? {} : { amr }),
      ...cleanUserAttributes(attributes).attributes,
    };
    const { kid, key } = this.#current;
    return new SignJWT(payload).setProtectedHeader({ alg: ID_TOKEN_ALG, kid, typ: 'JWT' }).sign(key);
  }

  /** Every stored public key (the active one first, then newest first), as served at `/oauth/jwks`. */
  async jwks(): Promise<JSONWebKeySet> {
    const records = (await this.store.list()).reverse();
    records.sort((a, b) => Number(b.active) - Number(a.active));
    return {
      keys: records.map((record) => ({
        ...publicMembers(JSON.parse(record.public_jwk) as JWK),
        kid: record.kid,
        alg: record.alg,
        use: 'sig',
      })),
    };
  }
}

/** Generates a key pair, stores it as the active key (private half sealed) and returns it. */
async function addKey(store: SigningKeyStore, secretKey: Buffer, now: number): Promise<ActiveKey> {
  const pair = await generateKeyPair(ID_TOKEN_ALG, { extractable: true });
  const privateJwk = await exportJWK(pair.privateKey);
  const publicJwk = publicMembers(await exportJWK(pair.publicKey));
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const record: SigningKeyRecord = {
    kid,
    alg: ID_TOKEN_ALG,
    private_jwk_sealed: seal(secretKey, JSON.stringify(privateJwk), associatedData(kid)),
    public_jwk: JSON.stringify(publicJwk),
    created_at: now,
    active: true,
  };
  await store.add(record);
  return { kid, key: await importPrivate(privateJwk) };
}

/** Decrypts and imports a stored key, checking that it is the key its kid names. */
async function openKey(record: SigningKeyRecord, secretKey: Buffer): Promise<ActiveKey> {
  const { kid } = record;
  if (record.alg !== ID_TOKEN_ALG) {
    throw new Error(`id_token signing key ${kid} uses ${record.alg}; only ${ID_TOKEN_ALG} is supported`);
  }
  let json: string;
  try {
    json = unseal(secretKey, record.private_jwk_sealed, associatedData(kid));
  } catch (cause) {
    throw new Error(
      `cannot decrypt id_token signing key ${kid}: the secret key (REGISTRAR_SECRET_KEY or <data dir>/secret.key) is not the one it was sealed with, or the stored key was altered`,
      { cause },
    );
  }
  const jwk = JSON.parse(json) as JWK;
  if (typeof jwk.d !== 'string' || (await calculateJwkThumbprint(publicMembers(jwk), 'sha256')) !== kid) {
    throw new Error(`id_token signing key ${kid} is corrupt: its private key does not match its kid`);
  }
  return { kid, key: await importPrivate(jwk) };
}

async function importPrivate(jwk: JWK): Promise<CryptoKey> {
  return (await importJWK(jwk, ID_TOKEN_ALG, { extractable: false })) as CryptoKey;
}

function publicMembers(jwk: JWK): PublicEcJwk {
  const { kty, crv, x, y } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') {
    throw new Error('not a P-256 public key');
  }
  return { kty, crv, x, y };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isAudience(value: unknown): value is string | string[] {
  if (typeof value === 'string') return value !== '';
  return isStringArray(value) && value.length > 0 && value.every((item) => item !== '');
}
