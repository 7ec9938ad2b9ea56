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
 */
export class CredentialCache {
  private readonly macKey = randomBytes(32);
  private readonly entries = new Map<string, Entry>();

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
    const ok = await this.slowVerify(presentedSecret, storedHash);
    if (ok && this.ttlMs > 0) {
      this.entries.set(clientId, { mac, secretHash: storedHash, expiresAt: this.now() + this.ttlMs });
    }
    return ok;
  }

  forget(clientId: string): void {
    this.entries.delete(clientId);
  }
}
