/**
 * The egress policy for scripts' `HTTP.request`: which origins a script may call (the
 * allow-list) and which resolved addresses a connection may go to (special ranges are
 * refused unless explicitly permitted). Pure logic; the HTTP client wires it in by calling
 * `checkUrl` before a request and passing `createCheckedLookup(...)` as the socket's `lookup`.
 */
import { isIP, type LookupFunction } from 'node:net';
import {
  type AddressCategory,
  addressValue,
  type Cidr,
  cidrContains,
  classifyAddress,
  parseCidr,
} from './address-ranges.js';
import { type AllowEntry, type AllowScheme, DEFAULT_PORTS, parseAllowEntry } from './allow-entry.js';
import { createSystemResolver } from './system-resolver.js';

export {
  type AllowEntry,
  type AllowHostKind,
  type AllowScheme,
  allowAddressSchema,
  allowEntrySchema,
  DEFAULT_PORTS,
  egressSchema,
  idpEgressSchema,
  parseAllowEntry,
} from './allow-entry.js';

/** The `code` of the error a checked lookup fails with when every resolved address is refused. */
export const EGRESS_REFUSED = 'EGRESS_REFUSED';

/** Egress settings as they appear in configuration. */
export interface EgressConfig {
  readonly allow: readonly string[];
  readonly allow_addresses: readonly string[];
}

export type UrlCheck =
  | { ok: true; url: URL; host: string; port: number; scheme: AllowScheme; matched: AllowEntry }
  | { ok: false; reason: string };

export type AddressCheck = { ok: true } | { ok: false; reason: string };

/** An address as a resolver reports it. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to all its addresses, in the order they should be tried. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface EgressPolicy {
  /** The effective allow-list (installation's and IdP's, deduplicated). */
  readonly entries: readonly AllowEntry[];
  /** The effective `allow_addresses` (installation's and IdP's, deduplicated). */
  readonly addresses: readonly Cidr[];
  /**
   * Whether a script may call `url`: http(s) only, no credentials, origin on the allow-list.
   * For an IP-literal host the address check is applied too, because sockets do not call
   * `lookup` for IP literals. `host` has no brackets and no trailing dot.
   */
  checkUrl(url: string): UrlCheck;
  /** Whether a connection made for `matched` may go to the resolved `address`. */
  checkAddress(address: string, matched: AllowEntry): AddressCheck;
}

/** Thrown when configured egress entries are invalid; lists every problem. */
export class EgressConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid egress configuration: ${problems.join('; ')}`);
    this.name = 'EgressConfigError';
  }
}

/** A checked lookup's failure when no resolved address may be connected to. */
export class EgressRefusedError extends Error {
  readonly code = EGRESS_REFUSED;
  constructor(
    message: string,
    readonly hostname: string,
  ) {
    super(message);
    this.name = 'EgressRefusedError';
  }
}

const PREFIX = 'HTTP.request:';

/** Parses every item, collecting problems instead of stopping at the first; drops duplicates. */
function parseAll<T extends { text: string }>(
  items: readonly string[],
  parse: (item: string) => T,
  problems: string[],
) {
  const byText = new Map<string, T>();
  for (const item of items) {
    try {
      const parsed = parse(item);
      if (!byText.has(parsed.text)) byText.set(parsed.text, parsed);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return [...byText.values()];
}

function hostMatches(entry: AllowEntry, host: string, address: bigint | null): boolean {
  if (entry.address !== null || address !== null) return entry.address === address;
  if (host.split('.').includes('')) return false;
  if (entry.kind === 'wildcard') return host.endsWith(`.${entry.host}`);
  return host === entry.host;
}

/**
 * Compiles the effective egress policy of an IdP: the union of the installation's and the
 * IdP's `allow` and `allow_addresses` (an IdP can widen, never narrow, what the installation
 * allows). Throws an EgressConfigError listing every invalid entry.
 */
export function compilePolicy(installation: EgressConfig, idp?: Partial<EgressConfig>): EgressPolicy {
  const problems: string[] = [];
  const entries = parseAll([...installation.allow, ...(idp?.allow ?? [])], parseAllowEntry, problems);
  const addresses = parseAll(
    [...installation.allow_addresses, ...(idp?.allow_addresses ?? [])],
    parseCidr,
    problems,
  );
  if (problems.length > 0) throw new EgressConfigError(problems);

  /** Why `address` is refused for `matched` (without the script-facing prefix), or null. */
  const refusal = (address: string, matched: AllowEntry): string | null => {
    const value = addressValue(address);
    if (value === null) return `${JSON.stringify(address)} is not an IP address`;
    const category: AddressCategory = classifyAddress(address);
    if (category === 'public') return null;
    if (category === 'metadata') {
      // Only an exact entry unlocks a metadata endpoint: a range such as 169.254.0.0/16 does not.
      if (addresses.some((cidr) => cidr.prefix === 128 && cidr.network === value)) return null;
      return `${address} is a cloud metadata address, refused unless allow_addresses lists exactly that address`;
    }
    if (matched.address === value) return null;
    if (addresses.some((cidr) => cidrContains(cidr, address))) return null;
    return `${address} is a ${category} address, refused unless allow_addresses covers it`;
  };

  const checkAddress = (address: string, matched: AllowEntry): AddressCheck => {
    const reason = refusal(address, matched);
    return reason === null ? { ok: true } : { ok: false, reason: `${PREFIX} ${reason}` };
  };

  const checkUrl = (text: string): UrlCheck => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, reason: `${PREFIX} the url is not a valid absolute URL` };
    }
    const schemeText = url.protocol.slice(0, -1);
    if (schemeText !== 'http' && schemeText !== 'https') {
      return { ok: false, reason: `${PREFIX} only http and https URLs are allowed, not ${url.protocol}` };
    }
    const scheme: AllowScheme = schemeText;
    const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
    const origin = `${scheme}://${url.hostname}:${port}`;
    if (url.username !== '' || url.password !== '') {
      return { ok: false, reason: `${PREFIX} credentials in the URL are not allowed (${origin})` };
    }
    const bare = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const host = bare.endsWith('.') && isIP(bare) === 0 ? bare.slice(0, -1) : bare;
    const address = isIP(host) === 0 ? null : addressValue(host);
    const matched = entries.find(
      (entry) =>
        entry.scheme === scheme &&
        (entry.port === '*' || entry.port === port) &&
        hostMatches(entry, host, address),
    );
    if (port < 1 || matched === undefined) {
      return { ok: false, reason: `${PREFIX} ${origin} is not on the allow-list` };
    }
    if (address !== null) {
      const verdict = checkAddress(host, matched);
      if (!verdict.ok) return verdict;
    }
    return { ok: true, url, host, port, scheme, matched };
  };

  return { entries, addresses, checkUrl, checkAddress };
}

/** The hosts file, then DNS through c-ares: never libuv's thread pool, where scrypt runs. */
const defaultResolver: Resolver = createSystemResolver();

function wantedFamily(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/**
 * A `lookup` for `net.connect`/`tls.connect` (and undici's connector) that resolves the host
 * with `resolve`, checks every answer with `policy.checkAddress(…, matched)` and answers only
 * with the addresses that pass, so the socket connects to a checked address and nothing
 * resolves the name a second time. IP-literal host names are checked without resolving.
 * Fails with an EgressRefusedError (code `EGRESS_REFUSED`) when no address passes; resolver
 * errors are passed on unchanged.
 */
export function createCheckedLookup(
  policy: EgressPolicy,
  matched: AllowEntry,
  resolve: Resolver = defaultResolver,
): LookupFunction {
  return (hostname, options, callback) => {
    const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    const family = wantedFamily(options.family);
    const answers = async (): Promise<ResolvedAddress[]> => {
      const literal = isIP(bare);
      if (literal !== 0) return [{ address: bare, family: literal }];
      const resolved = await resolve(bare);
      return resolved.filter((answer) => family === 0 || answer.family === family);
    };
    const settle = async (): Promise<ResolvedAddress[]> => {
      const found = await answers();
      if (found.length === 0) {
        const what = family === 0 ? 'addresses' : `IPv${family} addresses`;
        throw Object.assign(new Error(`${PREFIX} ${bare} has no ${what}`), {
          code: 'ENOTFOUND',
          hostname: bare,
        });
      }
      const passed: ResolvedAddress[] = [];
      const refused: string[] = [];
      for (const answer of found) {
        const verdict = policy.checkAddress(answer.address, matched);
        if (verdict.ok) passed.push({ address: answer.address, family: answer.family });
        else refused.push(verdict.reason.slice(PREFIX.length + 1));
      }
      if (passed.length === 0) {
        throw new EgressRefusedError(`${PREFIX} refused to connect to ${bare}: ${refused.join('; ')}`, bare);
      }
      return passed;
    };
    settle().then(
      (passed) =>
        process.nextTick(() => {
          const first = passed[0] as ResolvedAddress;
          if (options.all === true) callback(null, passed);
          else callback(null, first.address, first.family);
        }),
      (error: NodeJS.ErrnoException) => process.nextTick(() => callback(error, '')),
    );
  };
}
