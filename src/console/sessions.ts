import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type {
  ApiClientRecord,
  ConfigStore,
  ConsoleSessionRecord,
  ConsoleSessionStore,
} from '../storage/types.js';

/** How long sessions last. */
export interface ConsoleSessionSettings {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, however it is used. */
  maxMs: number;
}

/** The most a session may last, whatever the configuration says. */
export const MAX_SESSION_MS = 12 * 3_600_000;

/** A session id as handed out: 256 random bits, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A new session, as handed to the browser. */
export interface StartedSession {
  /** The cookie's value: only its hash is stored. */
  id: string;
  /** What the console echoes in `X-CSRF-Token` on every change. */
  csrfToken: string;
  record: ConsoleSessionRecord;
}

/** A live session and its client. */
export interface ResumedSession {
  record: ConsoleSessionRecord;
  client: ApiClientRecord;
}

/**
 * Console sessions: cookie-borne sign-ins of API clients, for the web console. The
 * store holds only a hash of each session id, bound to the client id and a fingerprint
 * of the client's secret hash at sign-in; every use re-reads the client (a memoised
 * lookup), so a deleted client or a changed secret ends its sessions at once. The
 * anti-CSRF token is an HMAC of the session id under the installation's secret key:
 * nothing more to store, the same on every node, and worthless without the cookie.
 */
export class ConsoleSessions {
  readonly settings: ConsoleSessionSettings;

  constructor(
    private readonly store: ConsoleSessionStore,
    private readonly clients: Pick<ConfigStore, 'getApiClient'>,
    private readonly secretKey: Buffer,
    settings: ConsoleSessionSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.settings = { idleMs: settings.idleMs, maxMs: Math.min(settings.maxMs, MAX_SESSION_MS) };
  }

  /** Starts a session for a client whose credentials were just verified. */
  async start(client: ApiClientRecord): Promise<StartedSession> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = now + this.settings.maxMs;
    const record: ConsoleSessionRecord = {
      id_hash: sha256(id),
      client_id: client.client_id,
      secret_fingerprint: sha256(client.secret_hash),
      created_at: now,
      idle_expires_at: Math.min(now + this.settings.idleMs, expiresAt),
      expires_at: expiresAt,
    };
    await this.store.create(record);
    return { id, csrfToken: this.csrfTokenOf(id), record };
  }

  /**
   * The live session with this id and its client, counting as a use (the idle expiry moves
   * on); undefined when the session is unknown, expired or ended, or its client is gone or
   * has another secret since sign-in (then the session is deleted).
   */
  async resume(id: string): Promise<ResumedSession | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const idHash = sha256(id);
    const record = await this.store.use(idHash, this.now(), this.settings.idleMs);
    if (!record) return undefined;
    const client = await this.clients.getApiClient(record.client_id);
    if (!client || !sameText(sha256(client.secret_hash), record.secret_fingerprint)) {
      await this.store.delete(idHash);
      return undefined;
    }
    return { record, client };
  }

  /** Ends a session; true when it existed. */
  async end(id: string): Promise<boolean> {
    return SESSION_ID.test(id) && this.store.delete(sha256(id));
  }

  /** The session's anti-CSRF token. */
  csrfTokenOf(id: string): string {
    return createHmac('sha256', this.secretKey)
      .update('registrar-console-csrf\0')
      .update(id)
      .digest('base64url');
  }

  /** True when `presented` is the session's anti-CSRF token (compared in constant time). */
  csrfMatches(id: string, presented: string | undefined): boolean {
    return presented !== undefined && sameText(this.csrfTokenOf(id), presented);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
