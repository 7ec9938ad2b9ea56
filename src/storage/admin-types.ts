/**
 * The administration stores' types: stored configuration-change audit events and
 * console sessions. Re-exported by `types.ts`, where every storage interface is found.
 */

/** The configuration resources the admin API changes (and audit events name). */
export const AUDITED_RESOURCES = [
  'api_client',
  'application',
  'identity_provider',
  'script',
  'property',
] as const;
export type AuditedResource = (typeof AUDITED_RESOURCES)[number];

/** What a configuration change did. */
export const AUDITED_ACTIONS = [
  'create',
  'replace',
  'update',
  'delete',
  'save_version',
  'activate_version',
  'deactivate',
  /** A script's stored test cases were replaced. */
  'replace_tests',
  /** A canary of a script version started, was promoted to 100 %, rolled back (by the system) or aborted. */
  'start_rollout',
  'promote_rollout',
  'rollback_rollout',
  'abort_rollout',
  /** A shadow of a script version started or stopped. */
  'start_shadow',
  'stop_shadow',
] as const;
export type AuditedAction = (typeof AUDITED_ACTIONS)[number];

/** A `configuration_change` audit event to store (the store gives it its id). */
export interface NewAuditEvent {
  /** When the change was made, epoch milliseconds. */
  at: number;
  /** The admin API client that made it; null when unknown. */
  client_id: string | null;
  resource: AuditedResource;
  /** The resource's id (for a script, `idp/kind`). */
  resource_id: string;
  action: AuditedAction;
  /**
   * The resource's admin views before and after (null when there is none). Any
   * JSON-serialisable value; views never hold a secret, and sensitive values are masked
   * before they get here.
   */
  before: unknown;
  after: unknown;
}

/** A stored audit event. */
export interface AuditEvent extends NewAuditEvent {
  /** Increases with every event the store appends; never reused, even after a purge. */
  id: number;
}

/** Which events to list, and which page of them. */
export interface AuditEventQuery {
  resource?: AuditedResource;
  resourceId?: string;
  clientId?: string;
  limit: number;
  /** The `next` of the previous page: only events with a smaller id are listed. */
  after?: number;
}

/** What a purge keeps: events from `since` on, and of those at most the newest `keep`. */
export interface AuditRetention {
  /** Epoch milliseconds: older events are removed. */
  since: number;
  /** The most events kept (the newest). */
  keep: number;
}

/**
 * Stored `configuration_change` audit events, newest first. Append-only apart from
 * `purge`; every method is atomic on its own.
 */
export interface AuditEventStore {
  /** Stores an event; resolves to its id. */
  append(event: NewAuditEvent): Promise<number>;
  /**
   * Events matching every filter given, newest (highest id) first, at most `limit`;
   * `next` is the id to pass as `after` for the following page (as text), null on the last.
   */
  list(query: AuditEventQuery): Promise<{ items: AuditEvent[]; next: string | null }>;
  /** Removes events older than `since` and all but the newest `keep`; resolves to how many. */
  purge(retention: AuditRetention): Promise<number>;
}

/** A signed-in console session as stored: never the session id itself. */
export interface ConsoleSessionRecord {
  /** sha256 (hex) of the session id the browser holds in its cookie. */
  id_hash: string;
  /** The API client that signed in. */
  client_id: string;
  /**
   * sha256 (hex) of the client's stored secret hash at sign-in: once the client's secret
   * changes or the client is gone, it no longer matches and the session is over.
   */
  secret_fingerprint: string;
  /** Epoch milliseconds. */
  created_at: number;
  /** The session ends at this time unless it is used before (each use moves it on). */
  idle_expires_at: number;
  /** The session ends at this time whatever its use. */
  expires_at: number;
}

/**
 * Console sessions. A session is live while `now` is before both its idle and its hard
 * expiry; an expired session is never returned, even before it is purged. Times are
 * passed in, so the callers' clock is the only one.
 */
export interface ConsoleSessionStore {
  /** Stores a new session; rejects when the id hash exists (nothing changes). */
  create(session: ConsoleSessionRecord): Promise<void>;
  /**
   * The live session with this id hash, its idle expiry moved on to `now + idleMs` (never
   * back, never past its hard expiry) in the same atomic step; undefined when unknown or
   * expired.
   */
  use(idHash: string, now: number, idleMs: number): Promise<ConsoleSessionRecord | undefined>;
  /** Ends a session; true when it existed (live or not yet purged). */
  delete(idHash: string): Promise<boolean>;
  /** Removes sessions expired at `now`; resolves to how many. */
  purgeExpired(now: number): Promise<number>;
}
