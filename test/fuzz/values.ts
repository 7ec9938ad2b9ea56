/**
 * Odd values the fuzzer puts in paths and headers: identifiers and their encodings,
 * Authorization headers (valid, wrong, malformed), content types, extra headers.
 */
import { basic } from '../helpers/registrar.js';
import type { Rng } from './prng.js';
import { DECOY_IDS, type FuzzClient } from './target.js';

/** Percent-encodes every character of `text` that is not unreserved (UTF-8). */
export const encodeSegment = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, escapeChar);
const escapeChar = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/** Path segments that are odd whatever the route: dot segments, bad escapes, long, empty, unicode. */
export function oddSegment(rng: Rng): string {
  return rng.weighted<() => string>([
    [2, () => rng.pick(['.', '..', '%2e', '%2E%2E', '.%2e', '%2e%2e%2f', '..%2F..%2F'])],
    [2, () => rng.pick(['%zz', '%', '%4', '%00', '%C0%AF', '%ED%A0%80', '%FF%FE', '%E2%82', '%u0041'])],
    [1, () => rng.pick(['%2F', '%3F', '%23', '%20', '+', '%2B', ';x=1', ':id', '*', '~', '%7E'])],
    [2, () => 'a'.repeat(rng.pick([700, 765, 767, 768, 769, 800, 4000]))],
    [1, () => '%41'.repeat(rng.pick([255, 256, 300]))],
    [1, () => encodeSegment(rng.pick(['é', '€uro', '𝄞', 'ü'.repeat(200), 'a b', 'a:b', '\u202e', '\u200b']))],
    [1, () => ''],
    [1, () => rng.string(rng.between(1, 40), "abcXYZ019._~-!$&'()*+,;=:@")],
  ])();
}

/** An id for a path: usually one of `known`, sometimes a variant or an odd segment. */
export function pathId(rng: Rng, known: readonly string[]): string {
  return rng.weighted<() => string>([
    [8, () => encodeSegment(rng.pick(known))],
    [1, () => encodeSegment(rng.pick(known).toUpperCase())],
    [1, () => `${encodeSegment(rng.pick(known))}${rng.pick(['%20', '.', '%00', '/', '//', '?x=1', '#f'])}`],
    [2, () => encodeSegment(`unknown-${rng.string(8)}`)],
    [3, () => oddSegment(rng)],
  ])();
}

/** What an Authorization plan means for the oracle: `valid` answers must never be `invalid_client`. */
export type CredentialKind = 'valid' | 'wrong' | 'malformed' | 'none' | 'other';

/** An Authorization header (or none) and what it is. */
export interface AuthPlan {
  header?: string | string[];
  kind: CredentialKind;
}

/** Valid Basic credentials, in one of the spellings RFC 6749 and RFC 7617 allow. */
export function validBasic(rng: Rng, client: FuzzClient): string {
  const header = basic(client.id, client.secret);
  const token = header.slice('Basic '.length);
  return rng.weighted([
    [6, header],
    [1, `basic ${token}`],
    [1, `BASIC  ${token}`],
    [1, `Basic ${token} `],
    [
      1,
      `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`,
    ],
  ]);
}

/** A client id nobody configured, or a decoy's: wrong secrets go to many distinct ids. */
export function wrongClientId(rng: Rng): string {
  return rng.weighted<() => string>([
    [6, () => `fz-wrong-${rng.string(10)}`],
    [1, () => rng.pick(DECOY_IDS)],
    [1, () => `ü ${rng.string(6)} :+%`],
    [1, () => rng.string(rng.between(200, 300))],
  ])();
}

/** Basic credentials with an unknown (or decoy) id and a wrong secret. */
export function wrongBasic(rng: Rng): string {
  return basic(
    wrongClientId(rng),
    rng.pick(['x', rng.string(20), '', ' ', ':', '%', rng.string(2000)]) || 'y',
  );
}

/** Authorization headers that are not well-formed Basic credentials (never for a valid client id). */
export function malformedAuthorization(rng: Rng): string {
  const id = wrongClientId(rng);
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
  return rng.pick([
    'Basic',
    'Basic ',
    'Basic !!!!',
    'Basic ====',
    `Basic ${b64(id)}`,
    `Basic ${b64(`${id}:`)}`,
    `Basic ${b64(`:${id}`)}`,
    `Basic ${b64(`${id}:%zz`)}`,
    `Basic ${b64(`%E0%A4%A:${id}`)}`,
    `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x41]))}`,
    `Basic ${b64(`${id}:s`)}=`,
    `Basic ${b64(`${id}:s`).replace(/=+$/, '')}`,
    `Basic\t${b64(`${id}:s`)}`,
    `Basic ${b64(`${id}:s`)}, Basic ${b64(`${id}:t`)}`,
    `Bearer ${rng.string(40)}`,
    `Digest username="${id}"`,
    `${b64(`${id}:s`)}`,
    `Basic ${'A'.repeat(rng.pick([100, 8000]))}`,
    `Basic ${rng.string(30, 'ÀÁÂÃÄÅÆ')}`,
    rng.string(rng.between(1, 50), ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~abc'),
  ]);
}

/** Content-Type values: the two the server reads, their variants, and others. */
export function contentType(rng: Rng, usual: 'json' | 'form'): string | undefined {
  const main = usual === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  return rng.weighted<string | undefined>([
    [12, main],
    [2, `${main}; charset=utf-8`],
    [1, `${main};charset="UTF-8"`],
    [1, `${main}; charset=latin1`],
    [1, main.toUpperCase()],
    [1, usual === 'json' ? 'application/x-www-form-urlencoded' : 'application/json'],
    [1, undefined],
    [1, rng.pick(['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx'])],
    [1, rng.pick(['', ';', 'application/', '*/*', `${main}; ${'p=1;'.repeat(200)}`, 'ä/ö'])],
  ]);
}

/** A few extra headers, sometimes huge or odd (never ones undici refuses to send). */
export function extraHeaders(rng: Rng): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const count = rng.weighted([
    [6, 0],
    [3, 1],
    [1, 3],
  ]);
  for (let i = 0; i < count; i++) {
    rng.weighted<() => void>([
      [
        2,
        () => {
          headers['x-request-id'] = rng.pick(['abc', '', 'x'.repeat(200), '../../etc', 'ä', 'a b']);
        },
      ],
      [
        1,
        () => {
          headers.accept = rng.pick(['*/*', 'text/html', 'application/xml', '', 'ä'.repeat(10)]);
        },
      ],
      [
        1,
        () => {
          headers['accept-encoding'] = rng.pick(['gzip', 'br, deflate', 'identity;q=0', 'x']);
        },
      ],
      [
        1,
        () => {
          headers['x-fz-big'] = 'b'.repeat(rng.pick([4000, 12000, 16000, 17000, 40000]));
        },
      ],
      [
        1,
        () => {
          headers['x-fz-latin1'] = rng.string(20, 'àéîõüÿ\u00a0\u00ff');
        },
      ],
      [
        1,
        () => {
          headers['x-forwarded-for'] = rng.pick(['10.0.0.1', '::1, 1.2.3.4', 'garbage']);
        },
      ],
      [
        1,
        () => {
          headers.cookie = `${'c='.repeat(50)}`;
        },
      ],
      [
        1,
        () => {
          headers['x-fz-dup'] = ['a', 'b', 'c'];
        },
      ],
      [
        1,
        () => {
          headers['content-encoding'] = rng.pick(['gzip', 'br', 'identity', 'bogus']);
        },
      ],
      [
        1,
        () => {
          headers.range = rng.pick(['bytes=0-1', 'bytes=-1', 'x']);
        },
      ],
      [
        1,
        () => {
          headers['if-none-match'] = '*';
        },
      ],
    ])();
  }
  return headers;
}
