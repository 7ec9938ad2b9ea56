/**
 * Throttling of failed client authentications, per client id and per source address, so
 * wrong secrets cannot buy unbounded scrypt work. Each key has a leaky bucket: a failure
 * adds one, the bucket drains `limit` per window, and a key is throttled while one more
 * failure would not fit. Nothing about the presented secret is looked at here.
 */
import { addressValue } from '../outbound/address-ranges.js';

/** Which limit refused an attempt. */
export type ThrottleReason = 'client' | 'address';

/** The throttle's limits. A limit of 0 turns that throttle off. */
export interface ThrottleSettings {
  /** Failed attempts per client id per window. */
  readonly perClient: number;
  /** Failed attempts per source address (an IPv6 address counts by its /64) per window. */
  readonly perAddress: number;
  readonly windowMs: number;
  /** How many client ids, and how many addresses, are tracked at most (the least recently failed go first). */
  readonly maxKeys: number;
}

/** A slow verification counted against the throttle until it is released. */
export interface HashReservation {
  release(): void;
}

interface Bucket {
  /** Failures not yet drained, as of `at`. */
  level: number;
  at: number;
  /** Slow verifications of this key in progress. */
  hashing: number;
}

/** How many of the least recently used entries an insertion looks at for drained ones. */
const PRUNE_SCAN = 16;

/** Leaky buckets by key, in least-recently-failed-first order, at most `maxKeys` of them. */
class Buckets {
  readonly #map = new Map<string, Bucket>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#map.size;
  }

  #level(bucket: Bucket, now: number): number {
    return Math.max(0, bucket.level - ((now - bucket.at) * this.limit) / this.windowMs);
  }

  /** Whether one more failure of `key` would overflow (counting slow verifications in progress when `withHashing`). */
  full(key: string, withHashing: boolean): boolean {
    if (this.limit === 0) return false;
    const bucket = this.#map.get(key);
    if (bucket === undefined) return false;
    const pending = withHashing ? bucket.hashing : 0;
    return this.#level(bucket, this.now()) + pending + 1 > this.limit;
  }

  fail(key: string): void {
    if (this.limit === 0) return;
    const bucket = this.#touch(key);
    bucket.level = Math.min(this.limit, bucket.level + 1);
  }

  startHash(key: string): Bucket | undefined {
    if (this.limit === 0) return undefined;
    const bucket = this.#touch(key);
    bucket.hashing++;
    return bucket;
  }

  /** The bucket of `key`, drained to now and moved to the most recent end; created when absent. */
  #touch(key: string): Bucket {
    const now = this.now();
    const found = this.#map.get(key);
    if (found !== undefined) {
      found.level = this.#level(found, now);
      found.at = now;
      this.#map.delete(key);
      this.#map.set(key, found);
      return found;
    }
    if (this.#map.size >= this.maxKeys) this.#evict(now);
    const bucket: Bucket = { level: 0, at: now, hashing: 0 };
    this.#map.set(key, bucket);
    return bucket;
  }

  /** Drops drained entries among the oldest few; failing that, the oldest entry. */
  #evict(now: number): void {
    let scanned = 0;
    for (const [key, bucket] of this.#map) {
      if (scanned++ >= PRUNE_SCAN) break;
      if (bucket.hashing === 0 && this.#level(bucket, now) === 0) this.#map.delete(key);
    }
    if (this.#map.size < this.maxKeys) return;
    const oldest = this.#map.keys().next();
    if (!oldest.done) this.#map.delete(oldest.value);
  }
}

/**
 * The key an address is counted under: IPv4 (IPv4-mapped IPv6 included) by the address,
 * other IPv6 by its /64 (one host usually holds a whole /64), anything else as given.
 */
export function addressKey(address: string): string {
  const value = addressValue(address);
  if (value === null) return address;
  return value >> 32n === 0xffffn ? `4:${value & 0xffffffffn}` : `6:${value >> 64n}`;
}

/**
 * Failed-authentication throttle. `check` says whether an attempt may go on at all;
 * `reserve` counts a slow verification as a failure until it ends, so a burst of
 * simultaneous attempts cannot start more slow verifications than the limits allow;
 * `fail` records a failed attempt. A success changes nothing: neither the client id's count
 * nor the address's is reset, so valid requests cannot buy an attacker more guesses.
 */
export class AuthThrottle {
  readonly #clients: Buckets;
  readonly #addresses: Buckets;

  constructor(settings: ThrottleSettings, now: () => number = Date.now) {
    this.#clients = new Buckets(settings.perClient, settings.windowMs, settings.maxKeys, now);
    this.#addresses = new Buckets(settings.perAddress, settings.windowMs, settings.maxKeys, now);
  }

  /** Why an attempt of `clientKey` from `address` is refused now, or null when it may go on. */
  check(clientKey: string, address: string | undefined): ThrottleReason | null {
    if (address !== undefined && this.#addresses.full(addressKey(address), false)) return 'address';
    if (this.#clients.full(clientKey, false)) return 'client';
    return null;
  }

  /**
   * Counts one slow verification for `clientKey` and `address` as a failure until released,
   * or says which limit it would overflow (then nothing is counted).
   */
  reserve(clientKey: string, address: string | undefined): HashReservation | ThrottleReason {
    const addressAt = address === undefined ? undefined : addressKey(address);
    if (addressAt !== undefined && this.#addresses.full(addressAt, true)) return 'address';
    if (this.#clients.full(clientKey, true)) return 'client';
    const held = [this.#clients.startHash(clientKey)];
    if (addressAt !== undefined) held.push(this.#addresses.startHash(addressAt));
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        for (const bucket of held) if (bucket) bucket.hashing = Math.max(0, bucket.hashing - 1);
      },
    };
  }

  /** Records a failed attempt of `clientKey` from `address`. */
  fail(clientKey: string, address: string | undefined): void {
    this.#clients.fail(clientKey);
    if (address !== undefined) this.#addresses.fail(addressKey(address));
  }

  /** How many client ids and addresses are tracked now. */
  tracked(): { clients: number; addresses: number } {
    return { clients: this.#clients.size, addresses: this.#addresses.size };
  }
}
