import type { ApiScope, IdpLimits, RateLimitRule, RecordPolicy, ScriptKind } from '../config/schema.js';
import type { RolloutPolicy } from './rollout-types.js';

/** An API client as stored: the secret only as a slow hash. */
export interface ApiClientRecord {
  client_id: string;
  name: string | null;
  secret_hash: string;
  scopes: ApiScope[];
}

/** An OAuth application (custom registration client) as stored: the secret only as a slow hash. */
export interface ApplicationRecord {
  client_id: string;
  name: string | null;
  secret_hash: string;
  /** The IdPs it may register through. */
  identity_providers: string[];
  scopes: string[];
  default_scopes: string[];
  access_token_ttl_seconds: number;
  refresh_tokens: boolean;
}

/** One immutable version of an IdP's script. */
export interface ScriptVersion {
  version: number;
  source: string;
  /** sha256 of the source, hex: the identity a sandbox compiles and caches under. */
  sha256: string;
  filename: string;
}

export interface IdentityProviderRecord {
  id: string;
  name: string | null;
  flow: 'one_step' | 'two_step';
  enabled: boolean;
  limits: IdpLimits;
  /** Egress this IdP adds to the installation's allow-list; absent when none. */
  http?: IdpEgress;
  /** Its declarative rate limits; absent when none. */
  rate_limits?: RateLimitRule[];
  /** Which executions are recorded for replay; absent when none. */
  record?: RecordPolicy;
  /** The active version of each script kind the IdP has. */
  scripts: Partial<Record<ScriptKind, ScriptVersion>>;
  /** The running canary of each kind that has one (absent when none runs). */
  canaries?: Partial<Record<ScriptKind, Canary>>;
  /** The shadow of each kind that has one (absent when none runs). */
  shadows?: Partial<Record<ScriptKind, Shadow>>;
}

/** A version run beside the active one on copies of live inputs; its answers only reported. */
export interface Shadow {
  version: ScriptVersion;
  percent: number;
  started_at: number;
}

/** A running canary as the request path needs it: the new version and how much traffic it gets. */
export interface Canary extends RolloutPolicy {
  /** The active version it runs beside; a canary whose active version changed is ignored. */
  from_version: number;
  version: ScriptVersion;
  started_at: number;
}

/** An IdP's own outbound allow-list (see `engine.http` for the installation's). */
export interface IdpEgress {
  allow?: string[];
  allow_addresses?: string[];
}

/** The fields of an IdP that are not scripts. */
export type IdentityProviderFields = Omit<IdentityProviderRecord, 'scripts'>;

/** A property as stored: `value` is sealed (encrypted) when `sensitive`. */
export interface PropertyRecord {
  id: string;
  value: string;
  sensitive: boolean;
}

/** One page of a keyset-paged list: at most `limit` items after the key `after`, in key order. */
export interface PageRequest {
  limit: number;
  /** The last key of the previous page; absent for the first page. */
  after?: string;
}

export interface Page<T> {
  items: T[];
  /** The key to pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/** A script version's metadata, as listed (the source is read one version at a time). */
export interface ScriptVersionInfo {
  version: number;
  sha256: string;
  filename: string;
  created_at: number;
  /** True for the version the IdP runs. */
  active: boolean;
}

/** A script to save: the source and the name it runs under in stack traces and logs. */
export interface ScriptSource {
  source: string;
  filename: string;
}

/** What a script save did: the version saved (the one the IdP now runs, unless saved inactive), and whether saving created it. */
export interface SavedScript {
  version: ScriptVersion;
  created: boolean;
}

/**
 * Configuration: API clients, applications, identity providers with versioned scripts,
 * properties. Every method is atomic on its own; `create*` methods refuse (false) an
 * existing key, `delete*` methods report whether the key existed, and every change is
 * seen by the next read through the same store, and through any other store on the same
 * database from the next event-loop turn on (stores may check for foreign commits once
 * per turn; PostgreSQL nodes add their `read_cache_ms`, see storage/open.ts).
 */
export interface ConfigStore {
  getApiClient(clientId: string): Promise<ApiClientRecord | undefined>;
  listApiClients(page: PageRequest): Promise<Page<ApiClientRecord>>;
  /** Stores a new client; false (nothing changed) when the id exists. */
  createApiClient(client: ApiClientRecord): Promise<boolean>;
  upsertApiClient(client: ApiClientRecord): Promise<void>;
  deleteApiClient(clientId: string): Promise<boolean>;

  getApplication(clientId: string): Promise<ApplicationRecord | undefined>;
  listApplications(page: PageRequest): Promise<Page<ApplicationRecord>>;
  createApplication(application: ApplicationRecord): Promise<boolean>;
  upsertApplication(application: ApplicationRecord): Promise<void>;
  deleteApplication(clientId: string): Promise<boolean>;

  getIdentityProvider(id: string): Promise<IdentityProviderRecord | undefined>;
  listIdentityProviders(page: PageRequest): Promise<Page<IdentityProviderRecord>>;
  /**
   * Creates or updates an IdP (the config file's view). For each script kind given, a
   * new version is created and activated when the source differs from the active one;
   * kinds not given are deactivated (their versions are kept).
   */
  upsertIdentityProvider(
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource>>,
  ): Promise<void>;
  /**
   * Creates (`create`: false when the id exists) or updates (`update`: false when it
   * does not) an IdP's fields and, in the same step, the scripts named: a source
   * saves a version as {@link saveScript} does; null deactivates the kind; a kind not
   * named is left as it is.
   */
  writeIdentityProvider(
    mode: 'create' | 'update',
    idp: IdentityProviderFields,
    scripts: Partial<Record<ScriptKind, ScriptSource | null>>,
  ): Promise<boolean>;
  /** Removes an IdP and all its script versions. */
  deleteIdentityProvider(id: string): Promise<boolean>;
  /**
   * Saves a script as a new immutable version and activates it, unless the source is
   * the active version's (then nothing changes and `created` is false). With
   * `activate: false` the new version is stored but the active one stays (a version
   * whose stored tests failed); `version` is then the new one. Undefined when the IdP
   * does not exist.
   */
  saveScript(
    idpId: string,
    kind: ScriptKind,
    script: ScriptSource,
    options?: { activate?: boolean },
  ): Promise<SavedScript | undefined>;
  /** An IdP's versions of one kind, newest first; `after` is a version number. */
  listScriptVersions(idpId: string, kind: ScriptKind, page: PageRequest): Promise<Page<ScriptVersionInfo>>;
  getScriptVersion(
    idpId: string,
    kind: ScriptKind,
    version: number,
  ): Promise<(ScriptVersion & ScriptVersionInfo) | undefined>;
  /** Makes an existing version the active one (a rollback when it is older); false when there is no such version. */
  activateScriptVersion(idpId: string, kind: ScriptKind, version: number): Promise<boolean>;

  getProperty(id: string): Promise<PropertyRecord | undefined>;
  /** Every property, by id (scripts get them all). */
  listProperties(): Promise<PropertyRecord[]>;
  pageProperties(page: PageRequest): Promise<Page<PropertyRecord>>;
  createProperty(property: PropertyRecord): Promise<boolean>;
  upsertProperty(property: PropertyRecord): Promise<void>;
  deleteProperty(id: string): Promise<boolean>;
  /** Resolves when the backend answers a trivial query. */
  ping(): Promise<void>;
}

/**
 * The script CACHE: string values (JSON text) under string keys, each with an expiry.
 * An expired entry is never returned, by any method, even before it is purged.
 */
export interface CacheStore {
  /** Stores `value` under `key`, replacing any previous entry, for `ttlMs` milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Stores several entries in one atomic step, in order (a later entry for a key wins). */
  setMany(entries: ReadonlyArray<readonly [key: string, value: string, ttlMs: number]>): Promise<void>;
  /** The live value under `key`, or null. */
  get(key: string): Promise<string | null>;
  /** Removes `key`; true when a live entry was removed. */
  delete(key: string): Promise<boolean>;
  /** Returns the live value under `key` and removes it, in one atomic step: of many concurrent takers, exactly one gets it. */
  take(key: string): Promise<string | null>;
  /**
   * Adds `delta` to the integer under `key` and returns the new value, in one atomic step
   * (of many concurrent incrementers, across processes and nodes, none is lost), committed
   * when it resolves. An absent or expired entry starts at `delta` and lives `ttlMs`; a
   * live one keeps its expiry (the TTL is set only on creation). A live entry that is not
   * an integer (its JSON text) is left as it is and the result is null.
   */
  increment(key: string, delta: number, ttlMs: number): Promise<number | null>;
  /** Removes expired entries; returns how many. */
  purgeExpired(): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void> | void;
}

/**
 * The cache as a sandbox process sees it: synchronous, because scripts call CACHE
 * synchronously and the sandbox runs them on its own thread. Same guarantees as
 * {@link CacheStore}. (A network backend implements this by blocking the sandbox
 * process, never the server, while it waits.) Stores are not made here: the server
 * commits them, batched, when the execution returns (see ScriptEngine).
 */
export interface SandboxCache {
  getSync(key: string): string | null;
  deleteSync(key: string): boolean;
  /** {@link CacheStore.increment}, synchronously: atomic and committed when it returns. */
  incrementSync(key: string, delta: number, ttlMs: number): number | null;
  close(): void;
}

/**
 * The counters behind the declarative rate limits (`identity_providers[].rate_limits`):
 * entries like the CACHE's, in a key space of their own that scripts cannot reach, beside
 * the CACHE (its SQLite file, or its Redis), so every node counts in the same place.
 */
export type CounterStore = Pick<CacheStore, 'increment' | 'purgeExpired'>;

/** So do the administration stores (audit events, console sessions), from admin-types.ts. */
export type * from './admin-types.js';
/** The registration stores (transactions, tokens) live in grant-types.ts; every storage type is exported here. */
export type * from './grant-types.js';
/** So do the stores behind safe script changes (stored script tests), from rollout-types.ts. */
export type * from './rollout-types.js';

/** A key that signs id_tokens. The private half is stored only sealed. */
export interface SigningKeyRecord {
  /** Key id, the JWS `kid` (the RFC 7638 thumbprint of the public key). */
  kid: string;
  /** JWS algorithm, e.g. `ES256`. */
  alg: string;
  /** The private JWK as JSON, sealed with the secret key (associated data `signing-key:<kid>`). */
  private_jwk_sealed: string;
  /** The public JWK as JSON (no private members). */
  public_jwk: string;
  created_at: number;
  /** True for the one key that signs new tokens; the others only verify. */
  active: boolean;
}

/**
 * id_token signing keys. Keys are never removed, so tokens signed with a retired key
 * still verify. At most one key is active at any time, and every method is atomic.
 */
export interface SigningKeyStore {
  /** Every key, oldest (`created_at`) first. */
  list(): Promise<SigningKeyRecord[]>;
  /**
   * Stores a new key; rejects when `kid` exists. An `active` key becomes the one
   * active key in the same step (any other is deactivated).
   */
  add(key: SigningKeyRecord): Promise<void>;
  /**
   * Makes `kid` the one active key, deactivating every other, in one atomic step.
   * Rejects, changing nothing, when there is no such key.
   */
  activate(kid: string): Promise<void>;
}

/** So do the recorded script executions' types, from recording-types.ts. */
export type * from './recording-types.js';
