import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifySecret } from './secret-hash.js';

interface Entry {
  mac: Buffer;
  secretHash: string;
  expiresAt: number;
}

/**
 * Verifies client secrets against their scrypt hashes, remembering successes for a
 * short time after their last use (sliding), so the slow hash is not paid on every request.
 *
 * Only an HMAC of the presented secret (under a key that never leaves this process)
 * is kept. An entry is valid only while the client's stored hash is the one it was
 * verified against, so a changed secret stops matching at once; `forget` drops a
 * client explicitly (deleted clients).
 *
 * Concurrent checks of the same client, secret and hash share one slow verification:
 * without that, every request in flight when an entry expires (or at start) would pay
 * its own scrypt at once, a stampede that stalls the thread pool for seconds under load.
 */
export class CredentialCache {
  private readonly macKey = randomBytes(32).toString('base64');
  private readonly entries = new Map<string, Entry>();
  /** Slow verifications in progress, by client id, presented secret's MAC and stored hash. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly slowVerify: (secret: string, hash: string) => Promise<boolean> = verifySecret,
  ) {}

  /** True when this secret was verified against this hash within the TTL (no slow hash is paid). */
  cached(clientId: string, presentedSecret: string, storedHash: string): boolean {
    return this.matches(clientId, this.macOf(clientId, presentedSecret), storedHash);
  }

  async verify(clientId: string, presentedSecret: string, storedHash: string): Promise<boolean> {
    const mac = this.macOf(clientId, presentedSecret);
    if (this.matches(clientId, mac, storedHash)) return true;
    const key = `${clientId}\0${mac.toString('base64')}\0${storedHash}`;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const verification = this.slowVerify(presentedSecret, storedHash).then((ok) => {
      if (ok && this.ttlMs > 0) {
        this.entries.set(clientId, { mac, secretHash: storedHash, expiresAt: this.now() + this.ttlMs });
      }
      return ok;
    });
    this.inFlight.set(key, verification);
    try {
      return await verification;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private macOf(clientId: string, presentedSecret: string): Buffer {
    // A keyed SHA-256 (the key is random per process and never leaves it): the digest is only
    // compared for equality here, so a one-shot hash serves as well as an HMAC, at half the cost.
    return hash('sha256', `${this.macKey}\0${clientId}\0${presentedSecret}`, 'buffer');
  }

  /** A match also extends the entry: a client in steady use is not re-hashed (nor locked out while throttled). */
  private matches(clientId: string, mac: Buffer, storedHash: string): boolean {
    const entry = this.entries.get(clientId);
    const now = this.now();
    if (
      entry === undefined ||
      entry.secretHash !== storedHash ||
      entry.expiresAt <= now ||
      !timingSafeEqual(entry.mac, mac)
    ) {
      return false;
    }
    entry.expiresAt = now + this.ttlMs;
    return true;
  }

  forget(clientId: string): void {
    this.entries.delete(clientId);
  }
}
