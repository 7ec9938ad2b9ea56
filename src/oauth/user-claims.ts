/**
 * What of a complete script's `user` may become claims. The attributes reach signed
 * id_tokens and introspection answers, so names that mean something to a relying party
 * are Registrar's alone, and names that pollute prototypes when merged (`Object.assign`,
 * naive deep merges) never pass, at any depth.
 */

/** Member names dropped at any depth: merged into an object they reach its prototype. */
export const PROTOTYPE_MEMBER_NAMES: readonly string[] = Object.freeze([
  '__proto__',
  'constructor',
  'prototype',
]);

/**
 * Claim names a script's user attributes can never set: Registrar sets them itself
 * (`iss`, `sub`, `aud`, `iat`, `exp`, `amr` in id_tokens; `active`, `token_type`,
 * `scope`, `client_id` in introspection answers), or they are registered JWT, OpenID
 * Connect or introspection claims that Registrar does not vouch for.
 */
export const RESERVED_CLAIMS: readonly string[] = Object.freeze([
  // RFC 7519 registered claims
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  // OpenID Connect id_token claims (amr only as Registrar sets it, from user.amr)
  'amr',
  'acr',
  'azp',
  'nonce',
  'auth_time',
  'at_hash',
  'c_hash',
  's_hash',
  'sid',
  // RFC 7662 introspection, RFC 8693 / RFC 9068 token claims, RFC 7800 confirmation
  'active',
  'scope',
  'client_id',
  'username',
  'token_type',
  'cnf',
  'act',
  'may_act',
]);

const RESERVED = new Set(RESERVED_CLAIMS);
const PROTOTYPE_NAMES = new Set(PROTOTYPE_MEMBER_NAMES);

/** User attributes fit to be claims, and the paths of the members dropped on the way. */
export interface CleanAttributes {
  attributes: Record<string, unknown>;
  /** Where each dropped member was, e.g. `iss`, `address.__proto__`, `lines[0].constructor`. */
  dropped: string[];
}

/**
 * A script's user attributes without reserved claim names (top level) and without
 * `__proto__`, `constructor` and `prototype` members (at any depth, in arrays too).
 * The input is left as it is; the result holds only plain objects and arrays.
 */
export function cleanUserAttributes(details: Record<string, unknown>): CleanAttributes {
  const dropped: string[] = [];
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(details)) {
    if (RESERVED.has(name) || PROTOTYPE_NAMES.has(name)) {
      dropped.push(name);
      continue;
    }
    attributes[name] = withoutPrototypeMembers(value, name, dropped);
  }
  return { attributes, dropped };
}

/** `value` (parsed JSON) rebuilt without prototype member names; their paths go to `dropped`. */
function withoutPrototypeMembers(value: unknown, path: string, dropped: string[]): unknown {
  if (Array.isArray(value)) {
    return value.map((item, i) => withoutPrototypeMembers(item, `${path}[${i}]`, dropped));
  }
  if (value === null || typeof value !== 'object') return value;
  const clean: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(value)) {
    const at = `${path}.${name}`;
    if (PROTOTYPE_NAMES.has(name)) dropped.push(at);
    else clean[name] = withoutPrototypeMembers(member, at, dropped);
  }
  return clean;
}
