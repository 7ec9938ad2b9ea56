import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifySecret } from './secret-hash.js';

interface Entry {
  mac: Buffer;
  secretHash: string;
  expiresAt: number;
}

/**
 * Verifies client secrets against their scrypt hashes, remembering successes for a
 * short time so the slow hash is not paid on every request.
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
  private readonly macKey = randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  /** Slow verifications in progress, by client id, presented secret's MAC and stored hash. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly slowVerify: (secret: string, hash: string) => Promise<boolean> = verifySecret,
  ) {}

  async verify(clientId: string, presentedSecret: string, storedHash: string): Promise<boolean> {
    const mac = createHmac('sha256', this.macKey)
      .update(clientId)
      .update('\0')
      .update(presentedSecret)
      .digest();
    const entry = this.entries.get(clientId);
    if (
      entry &&
      entry.secretHash === storedHash &&
      entry.expiresAt > this.now() &&
      timingSafeEqual(entry.mac, mac)
    ) {
      return true;
    }
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

  forget(clientId: string): void {
    this.entries.delete(clientId);
  }
}
