/**
 * Request bodies: JSON values near the shape a route expects and mutated away from it
 * (wrong types, unknown members, deep nesting, truncation), forms with repeated
 * fields and bad escapes, random bytes, and sizes around the body limit.
 */
import type { Rng } from './prng.js';

/** The default `server.body_limit_bytes`. */
export const BODY_LIMIT = 256 * 1024;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values of every JSON type, some large or odd, for wrong-type mutations. */
export function oddJsonValue(rng: Rng): Json {
  return rng.pick<() => Json>([
    () => null,
    () => true,
    () => 0,
    () => -1,
    () => 1e308,
    () => 2 ** 53 + 1,
    () => 0.5,
    () => '',
    () => 'x'.repeat(rng.pick([1, 300, 70_000])),
    () => '\u0000\ud800é\u202e',
    () => [],
    () => [1, 'a', null],
    () => ({}),
    () => JSON.parse('{"__proto__": {"polluted": true}}') as Json,
    () => nested(rng.pick([5, 63, 64, 65, 200])),
  ])();
}

/** `depth` levels of arrays and objects. */
export function nested(depth: number): Json {
  let value: Json = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** A copy of `value` with one random change somewhere inside (a member dropped, added or given a wrong type). */
export function mutate(rng: Rng, value: Json): Json {
  if (value === null || typeof value !== 'object') return oddJsonValue(rng);
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length === 0 || rng.chance(0.3)) copy.push(oddJsonValue(rng));
    else {
      const i = rng.int(copy.length);
      copy[i] = rng.chance(0.5) ? mutate(rng, copy[i] ?? null) : oddJsonValue(rng);
    }
    return copy;
  }
  const copy = { ...value };
  const keys = Object.keys(copy);
  const op = keys.length === 0 ? 'add' : rng.pick(['drop', 'add', 'change', 'change', 'deeper']);
  const key = rng.pick(keys.length ? keys : ['x']);
  if (op === 'drop') delete copy[key];
  else if (op === 'add') copy[rng.pick(['extra', 'constructor', 'prototype', 'ID', key.toUpperCase()])] = 1;
  else if (op === 'change') copy[key] = oddJsonValue(rng);
  else copy[key] = mutate(rng, copy[key] ?? null);
  return copy;
}

/** JSON text for `value`, sometimes broken on the way: truncated, trailing garbage, duplicate keys, BOM. */
export function jsonText(rng: Rng, value: Json): string {
  const text = JSON.stringify(value);
  return rng.weighted<() => string>([
    [14, () => text],
    [1, () => text.slice(0, rng.int(Math.max(1, text.length)))],
    [1, () => `${text}${rng.pick([',', '}', ' x', '\u0000', '{}'])}`],
    [1, () => (text.startsWith('{') && text.length > 2 ? `{"data":"dup",${text.slice(1)}` : text)],
    [1, () => `\ufeff${text}`],
    [1, () => text.replace(/"/g, "'")],
    [1, () => rng.pick(['', ' ', 'null', '"str"', '[]', '1', 'true', '{', '[[[[', '{"a":}', 'NaN'])],
    [1, () => `${'['.repeat(rng.pick([65, 1000, 100_000]))}${']'.repeat(rng.pick([0, 65]))}`],
    [1, () => `{"data": "${'\\'.repeat(rng.pick([1, 3]))}"}`],
  ])();
}

/** A form body from `fields` (name/value pairs); `plain` is false when it was made odd on the way. */
export function formText(
  rng: Rng,
  fields: Array<[string, string]>,
  clean = false,
): { text: string; plain: boolean } {
  const params = new URLSearchParams(fields).toString();
  if (clean || rng.chance(0.7)) return { text: params, plain: true };
  const text = rng.weighted<() => string>([
    [1, () => `${params}&${params}`],
    [1, () => `${params}&data=%zz`],
    [1, () => `${params}&&&=&a`],
    [1, () => `${params}&data=${'%E2%82'.repeat(3)}`],
    [1, () => params.replace(/=/g, '%3D')],
    [1, () => `${params};data=semicolon`],
  ])();
  return { text, plain: false };
}

/** Bodies that are not what any route reads: random bytes, invalid UTF-8, sizes around the limit. */
export function strangeBody(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [3, () => rng.bytes(rng.between(1, 200))],
    [1, () => Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc])],
    [1, () => Buffer.from(`{"data":"${'\u00e9'.repeat(10)}"}`, 'latin1')],
    [2, () => sizedJson(rng)],
    [1, () => Buffer.alloc(rng.pick([BODY_LIMIT - 1, BODY_LIMIT, BODY_LIMIT + 1, 2 * BODY_LIMIT]), 0x20)],
  ])();
}

/** A JSON `{"data": "..."}` body of a length near the limit. */
export function sizedJson(rng: Rng): Buffer {
  const size = BODY_LIMIT + rng.pick([-100, -12, -1, 0, 1, 12, 1000]);
  const prefix = '{"data":"';
  const suffix = '"}';
  return Buffer.from(`${prefix}${'d'.repeat(Math.max(0, size - prefix.length - suffix.length))}${suffix}`);
}

export type { Json };
