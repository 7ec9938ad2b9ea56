import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const KEY_LENGTH = 32;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

function scryptAsync(secret: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must cover 128 * N * r bytes plus headroom.
    scrypt(secret, salt, KEY_LENGTH, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/**
 * Hashes a client secret with scrypt (N = 2^logN) into a self-describing string
 * `scrypt$<logN>$<r>$<p>$<salt>$<hash>`. Runs on libuv's thread pool.
 */
export async function hashSecret(secret: string, logN: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, 2 ** logN, BLOCK_SIZE, PARALLELISM);
  return ['scrypt', logN, BLOCK_SIZE, PARALLELISM, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a presented secret against a stored hash, comparing in constant time. */
export async function verifySecret(secret: string, encoded: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, hash] = encoded.split('$');
  if (scheme !== 'scrypt' || !logN || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(
    secret,
    Buffer.from(salt, 'base64'),
    2 ** Number(logN),
    Number(r),
    Number(p),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The cost exponent a stored hash was made with, so a changed cost can trigger a re-hash. */
export function hashCost(encoded: string): number | undefined {
  const [scheme, logN] = encoded.split('$');
  return scheme === 'scrypt' && logN ? Number(logN) : undefined;
}
