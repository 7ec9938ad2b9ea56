/**
 * Egress allow-list entries (`scheme://host[:port]`) and `allow_addresses` CIDRs: parsing,
 * strict validation with configuration-facing messages, and the zod schema fragments.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { addressValue, formatAddress, parseCidr } from './address-ranges.js';

export type AllowScheme = 'http' | 'https';

/** How an entry names its host: an exact DNS name, a `*.` wildcard, or an IP literal. */
export type AllowHostKind = 'name' | 'wildcard' | 'ipv4' | 'ipv6';

/** A validated, normalised allow-list entry. */
export interface AllowEntry {
  /** The entry in normalised form, e.g. `https://*.example.com`, `http://[::1]:4000`. */
  readonly text: string;
  readonly scheme: AllowScheme;
  readonly kind: AllowHostKind;
  /** Lowercase DNS name, the wildcard's suffix (without `*.`), or the canonical IP literal (no brackets). */
  readonly host: string;
  /** A single port, or `*` for any port. */
  readonly port: number | '*';
  /** The 128-bit address of an IP-literal entry, otherwise null. */
  readonly address: bigint | null;
}

/** The port an entry without `:port` allows: the scheme's default only. */
export const DEFAULT_PORTS: Readonly<Record<AllowScheme, number>> = { http: 80, https: 443 };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const FORM = 'write it as scheme://host[:port]';

function fail(entry: string, problem: string): never {
  throw new TypeError(`"${entry}" ${problem}`);
}

/** Validates a lowercase, ASCII DNS name; returns a problem or null. */
function nameProblem(name: string): string | null {
  if (name.length > 253) return 'has a host name longer than 253 characters';
  for (const label of name.split('.')) {
    if (label === '') return 'has an empty label in its host name';
    if (!LABEL.test(label)) {
      return `has an invalid host label "${label}" (letters, digits, - and _ only; 1-63 characters; no leading or trailing -)`;
    }
  }
  if (name.includes('xn--') && domainToASCII(name) === '') return 'has an invalid punycode (xn--) label';
  return null;
}

function parsePort(entry: string, text: string | undefined, scheme: AllowScheme): number | '*' {
  if (text === undefined) return DEFAULT_PORTS[scheme];
  if (text === '*') return '*';
  const port = /^[1-9][0-9]{0,4}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65_535)
    fail(entry, `has an invalid port "${text}" (use 1-65535, or * for any port)`);
  return port;
}

/** Splits the authority into host and port text, checking IPv6 brackets. */
function splitAuthority(
  entry: string,
  authority: string,
): { host: string; bracketed: boolean; port?: string } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) fail(entry, 'has an unterminated [ in its host');
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) fail(entry, `has unexpected text after "]"; ${FORM}`);
    const host = authority.slice(1, close);
    return after === '' ? { host, bracketed: true } : { host, bracketed: true, port: after.slice(1) };
  }
  const colons = authority.split(':').length - 1;
  if (colons > 1) fail(entry, 'has an IPv6 literal without brackets; write it as http://[2001:db8::1]:8080');
  const colon = authority.indexOf(':');
  if (colon === -1) return { host: authority, bracketed: false };
  return { host: authority.slice(0, colon), bracketed: false, port: authority.slice(colon + 1) };
}

function literalEntry(scheme: AllowScheme, kind: 'ipv4' | 'ipv6', literal: string, port: number | '*') {
  const address = addressValue(literal) ?? 0n;
  const host = kind === 'ipv4' ? literal : formatAddress(address, 6);
  return { scheme, kind, host, port, address };
}

/**
 * Parses and validates one allow-list entry. Without `:port` only the scheme's default port
 * (80/443) is allowed; `:*` allows any port. The host is lowercased and a trailing dot
 * dropped; internationalised names must be written in punycode. Throws a TypeError naming
 * the problem.
 */
export function parseAllowEntry(entry: string): AllowEntry {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(entry);
  if (!match) fail(entry, `is not a URL origin; ${FORM}, e.g. https://api.example.com`);
  const schemeText = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (schemeText !== 'http' && schemeText !== 'https') {
    fail(entry, `has scheme "${schemeText}"; only http and https are allowed`);
  }
  const scheme: AllowScheme = schemeText;
  if (rest.includes('@')) fail(entry, `must not contain credentials (user@); ${FORM}`);
  const cut = rest.search(/[/?#]/);
  if (cut !== -1) {
    const what = { '/': 'a path (not even a trailing /)', '?': 'a query', '#': 'a fragment' }[
      rest[cut] ?? '/'
    ];
    fail(entry, `must not contain ${what}; ${FORM}`);
  }
  const { host: rawHost, bracketed, port: portText } = splitAuthority(entry, rest);
  const port = parsePort(entry, portText, scheme);
  const parsed = ((): Omit<AllowEntry, 'text'> => {
    if (bracketed) {
      if (rawHost.includes('%')) fail(entry, 'has an IPv6 zone id (%...); remove it');
      if (isIP(rawHost) !== 6) fail(entry, `has "[${rawHost}]", which is not an IPv6 address`);
      return literalEntry(scheme, 'ipv6', rawHost, port);
    }
    if (rawHost === '') fail(entry, `has no host; ${FORM}`);
    if (/[\u0080-\uffff]/.test(rawHost)) {
      const ascii = domainToASCII(rawHost);
      fail(entry, `has a non-ASCII host; write it in punycode${ascii ? ` as "${ascii}"` : ''}`);
    }
    let host = rawHost.toLowerCase();
    if (host.endsWith('.') && host.length > 1) host = host.slice(0, -1);
    if (isIP(host) === 4) return literalEntry(scheme, 'ipv4', host, port);
    const wildcard = host.startsWith('*.');
    const name = wildcard ? host.slice(2) : host;
    if (name.includes('*'))
      fail(entry, 'may only use * as a whole leading label, as in https://*.example.com');
    if (/(^|\.)(0x[0-9a-f]*|[0-9]+)$/.test(name)) {
      fail(entry, 'has a host that is not a valid IPv4 address; write four decimal octets like 192.0.2.10');
    }
    const problem = nameProblem(name);
    if (problem) fail(entry, problem);
    if (wildcard && !name.includes('.'))
      fail(entry, 'has a wildcard over a single label, which is too broad');
    return { scheme, kind: wildcard ? 'wildcard' : 'name', host: name, port, address: null };
  })();
  return { ...parsed, text: formatEntry(parsed) };
}

/** The normalised text of an entry: the default port is omitted, IPv6 literals are bracketed. */
function formatEntry(entry: Omit<AllowEntry, 'text'>): string {
  const host =
    entry.kind === 'wildcard' ? `*.${entry.host}` : entry.kind === 'ipv6' ? `[${entry.host}]` : entry.host;
  const port = entry.port === DEFAULT_PORTS[entry.scheme] ? '' : `:${entry.port}`;
  return `${entry.scheme}://${host}${port}`;
}

/** Adds the TypeError message of `parse` as a zod issue. */
function validatedBy(parse: (value: string) => unknown) {
  return z.string().superRefine((value, ctx) => {
    try {
      parse(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    }
  });
}

/** One `allow` entry: `scheme://host[:port]`. */
export const allowEntrySchema = validatedBy(parseAllowEntry);

/** One `allow_addresses` entry: a CIDR or single IPv4/IPv6 address. */
export const allowAddressSchema = validatedBy(parseCidr);

/** The installation's egress settings (`engine.http`): both lists default to empty. */
export const egressSchema = z.strictObject({
  allow: z.array(allowEntrySchema).default([]),
  allow_addresses: z.array(allowAddressSchema).default([]),
});

/** An IdP's additional egress settings; merged with the installation's as a union. */
export const idpEgressSchema = z.strictObject({
  allow: z.array(allowEntrySchema).optional(),
  allow_addresses: z.array(allowAddressSchema).optional(),
});
