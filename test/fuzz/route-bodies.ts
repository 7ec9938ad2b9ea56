/** Bodies of the registration and OAuth routes, near their documented shapes. */
import { type Json, mutate } from './bodies.js';
import type { Rng } from './prng.js';
import type { Harvest } from './requests.js';

/** One of `items`, or `fallback` when there are none yet. */
export function pickOr(rng: Rng, items: readonly string[], fallback: string): string {
  return items.length ? rng.pick(items) : fallback;
}

/** A backchannel/registration `data` string: usual, empty, long, odd characters. */
export function dataString(rng: Rng): string {
  return rng.pick([
    'x',
    '',
    '{"custom_key":"custom_data"}',
    'fail',
    'é€𝄞\u202e',
    'x'.repeat(5000),
    '\u0000\u0001',
    '<script>alert(1)</script>',
    '{"userId":"alice"}',
    '%zz+&=',
  ]);
}

/** A backchannel JSON body, sometimes mutated. */
export function backchannelJson(rng: Rng, clean: boolean): Json {
  const value: Json = rng.chance(0.1) ? {} : { data: dataString(rng) };
  return !clean && rng.chance(0.3) ? mutate(rng, value) : value;
}

/** An init or complete JSON body (transaction ids from earlier answers), sometimes mutated. */
export function registrationJson(
  rng: Rng,
  kind: 'init' | 'complete',
  harvest: Harvest,
  clean: boolean,
): Json {
  const body: Record<string, Json> = {};
  if (rng.chance(0.8)) body.data = dataString(rng);
  if (kind === 'complete') {
    const transaction = rng.weighted<() => string | undefined>([
      [5, () => pickOr(rng, harvest.transactions, 'none')],
      [2, () => undefined],
      [clean ? 0 : 1, () => rng.pick(['', 'x', 'ü'.repeat(300), 'x'.repeat(100_000)])],
    ])();
    if (transaction !== undefined) body.transaction_id = transaction;
    if (rng.chance(0.5)) {
      body.scope = rng.pick<Json>([
        ['openid'],
        ['profile', 'email'],
        ['openid', 'openid'],
        ['admin'],
        [],
        'openid',
      ]);
    }
    if (rng.chance(0.2))
      body.hook_context_custom_params = rng.pick<Json>([{ a: ['b'] }, { a: 'b' }, null, []]);
  }
  return !clean && rng.chance(0.25) ? mutate(rng, body) : body;
}

/** The form fields of the token, introspect and revoke routes (credentials aside). */
export function formFields(
  rng: Rng,
  kind: string,
  token: () => string,
  clean: boolean,
): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (kind === 'token') {
    if (clean) fields.push(['grant_type', 'refresh_token']);
    else if (rng.chance(0.9)) {
      fields.push([
        'grant_type',
        rng.pick(['refresh_token', 'refresh_token', 'password', 'client_credentials', '']),
      ]);
    }
    if (clean || rng.chance(0.9)) fields.push(['refresh_token', token()]);
  } else if (kind === 'introspect' || kind === 'revoke') {
    if (clean || rng.chance(0.9)) fields.push(['token', token()]);
    if (rng.chance(0.2)) fields.push(['token_type_hint', rng.pick(['access_token', 'refresh_token', 'x'])]);
  }
  if (!clean && rng.chance(0.1)) fields.push([rng.pick(['token', 'grant_type', 'scope']), 'again']);
  return fields;
}
