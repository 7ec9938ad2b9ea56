/**
 * IP address classification and CIDR matching for the outbound-HTTP egress policy.
 *
 * Every address is handled as a 128-bit value: an IPv4 address `a.b.c.d` is the same
 * value as its IPv4-mapped form `::ffff:a.b.c.d` (dotted or hex). An IPv4 CIDR is the
 * matching slice of `::ffff:0:0/96`, so a v4 CIDR contains mapped addresses, a mapped
 * v6 CIDR contains plain v4 addresses, and `::/0` contains everything (the same answers
 * node:net's `BlockList` gives; the tests pin that).
 */
import { isIP } from 'node:net';

/** What kind of destination an address is; everything but `public` needs explicit permission. */
export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'unspecified'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'reserved'
  | 'documentation'
  | 'metadata';

/** A parsed CIDR (or single address), expressed in the 128-bit space. */
export interface Cidr {
  /** The CIDR in canonical text form, e.g. `10.1.0.0/16` or `fd00::/8`. */
  readonly text: string;
  /** 4 when written as IPv4, 6 when written as IPv6 (including mapped forms). */
  readonly family: 4 | 6;
  /** Network value (host bits zero) in the 128-bit space. */
  readonly network: bigint;
  /** Prefix length in the 128-bit space (an IPv4 /16 is 112). */
  readonly prefix: number;
}

const MAPPED_PREFIX = 0xffffn << 32n;
const ALL_128 = (1n << 128n) - 1n;

/** Strips an IPv6 zone id (`fe80::1%eth0`); the zone does not change the address's category. */
function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent === -1 ? address : address.slice(0, percent);
}

function v4Value(address: string): bigint {
  let value = 0n;
  for (const octet of address.split('.')) value = (value << 8n) | BigInt(Number(octet));
  return value;
}

function v6Value(address: string): bigint {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = v4Value(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string | undefined): bigint[] =>
    part ? part.split(':').map((group) => BigInt(Number.parseInt(group, 16))) : [];
  const left = parse(head);
  const right = parse(tail);
  const zeros = new Array<bigint>(8 - left.length - right.length).fill(0n);
  return [...left, ...zeros, ...right].reduce((value, group) => (value << 16n) | group, 0n);
}

/**
 * The 128-bit value of an IP address string (IPv4 as IPv4-mapped IPv6), or null when it is
 * not an IP address. An IPv6 zone id (`%eth0`) is ignored.
 */
export function addressValue(address: string): bigint | null {
  const bare = withoutZone(address);
  switch (isIP(bare)) {
    case 4:
      return MAPPED_PREFIX | v4Value(bare);
    case 6:
      return v6Value(bare);
    default:
      return null;
  }
}

/** True when the 128-bit value is an IPv4(-mapped) address. */
function isMapped(value: bigint): boolean {
  return value >> 32n === 0xffffn;
}

function inRange(value: bigint, network: bigint, bits: number, width: number): boolean {
  const shift = BigInt(width - bits);
  return value >> shift === network >> shift;
}

const V4_METADATA = new Set(
  ['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200'].map(v4Value),
);
const V6_METADATA = new Set(['fd00:ec2::254', 'fd00:ec2::23'].map(v6Value));

/** IPv4 special ranges, most specific first; anything unmatched is `public`. */
const V4_RANGES: readonly [string, number, AddressCategory][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link-local'],
  ['100.64.0.0', 10, 'cgnat'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['198.18.0.0', 15, 'documentation'],
];
const V4_TABLE = V4_RANGES.map(([net, bits, category]) => ({ net: v4Value(net), bits, category }));

/** IPv6 special ranges without an embedded IPv4 address, most specific first. */
const V6_RANGES: readonly [string, number, AddressCategory][] = [
  ['64:ff9b:1::', 48, 'reserved'],
  ['100::', 64, 'reserved'],
  ['2001:db8::', 32, 'documentation'],
  ['2001:2::', 48, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001:10::', 28, 'reserved'],
  ['2001:20::', 28, 'reserved'],
  ['fc00::', 7, 'private'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'],
  ['ff00::', 8, 'multicast'],
];
const V6_TABLE = V6_RANGES.map(([net, bits, category]) => ({ net: v6Value(net), bits, category }));

function classifyV4(value: bigint): AddressCategory {
  if (V4_METADATA.has(value)) return 'metadata';
  for (const { net, bits, category } of V4_TABLE) if (inRange(value, net, bits, 32)) return category;
  return 'public';
}

/** The embedded address's category when it is special, otherwise `fallback`. */
function embedded(value: bigint, fallback: AddressCategory): AddressCategory {
  const category = classifyV4(value & 0xffffffffn);
  return category === 'public' ? fallback : category;
}

function classifyV6(value: bigint): AddressCategory {
  if (value === 0n) return 'unspecified';
  if (value === 1n) return 'loopback';
  if (V6_METADATA.has(value)) return 'metadata';
  // IPv4-translated (SIIT, ::ffff:0:a.b.c.d) and NAT64 well-known prefix (64:ff9b::/96).
  if (value >> 32n === 0xffff0000n || value >> 32n === 0x64ff9b0000000000000000n) {
    return classifyV4(value & 0xffffffffn);
  }
  // Deprecated IPv4-compatible (::a.b.c.d): special when the embedded address is, never public.
  if (value >> 32n === 0n) return embedded(value, 'reserved');
  // 6to4: 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD.
  if (value >> 112n === 0x2002n) return classifyV4((value >> 80n) & 0xffffffffn);
  // Teredo: 2001:0::/32 carries the server (bits 32-63) and the obfuscated client (last 32 bits).
  if (value >> 96n === 0x20010000n) {
    const client = classifyV4((value ^ 0xffffffffn) & 0xffffffffn);
    if (client !== 'public') return client;
    return classifyV4((value >> 64n) & 0xffffffffn) === 'public' ? 'public' : 'reserved';
  }
  for (const { net, bits, category } of V6_TABLE) if (inRange(value, net, bits, 128)) return category;
  // Outside global unicast (2000::/3) everything else is unassigned or reserved.
  return value >> 125n === 1n ? 'public' : 'reserved';
}

/**
 * The special-range category of an IP address, or `public`. IPv4-mapped, IPv4-translated,
 * NAT64 (`64:ff9b::/96`), 6to4 and Teredo addresses are classified by the IPv4 address they
 * embed. Throws a TypeError when `address` is not an IP address.
 */
export function classifyAddress(address: string): AddressCategory {
  const value = addressValue(address);
  if (value === null) throw new TypeError(`${JSON.stringify(address)} is not an IP address`);
  return isMapped(value) ? classifyV4(value & 0xffffffffn) : classifyV6(value);
}

/**
 * The canonical text of a 128-bit address value: dotted IPv4 for IPv4-mapped values (or
 * `::ffff:a.b.c.d` when `family` is 6), compressed lowercase IPv6 otherwise.
 */
export function formatAddress(value: bigint, family: 4 | 6 = 4): string {
  if (isMapped(value)) {
    const dotted = [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
    return family === 4 ? dotted : `::ffff:${dotted}`;
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) =>
    ((value >> shift) & 0xffffn).toString(16),
  );
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/**
 * Parses `address/prefix` (IPv4 or IPv6) or a single address (a /32 or /128). Host bits must be
 * zero and zone ids are refused. Throws a TypeError with a configuration-facing message.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (address.includes('%')) throw new TypeError(`"${text}" has a zone id (such as %eth0); remove it`);
  const family = isIP(address);
  if (family !== 4 && family !== 6) throw new TypeError(`"${text}" is not an IP address or CIDR`);
  const width = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
    throw new TypeError(`"${text}" has an invalid prefix length; use /0 to /${width}`);
  }
  const bits = prefixText === undefined ? width : Number(prefixText);
  if (bits > width) throw new TypeError(`"${text}" has a prefix longer than /${width}`);
  const value = addressValue(address) ?? 0n;
  const prefix = bits + (128 - width);
  const hostMask = ALL_128 >> BigInt(prefix);
  const network = value & ~hostMask & ALL_128;
  if (network !== value) {
    const suggestion = `${formatAddress(network, family)}/${bits}`;
    throw new TypeError(`"${text}" has host bits set; did you mean ${suggestion}?`);
  }
  return { text: `${formatAddress(network, family)}/${bits}`, family, network, prefix };
}

/**
 * True when `address` lies in `cidr`. IPv4 and IPv4-mapped IPv6 forms of the same address are
 * interchangeable on both sides. A string `cidr` is parsed first (and throws when invalid); a
 * non-IP `address` is never contained.
 */
export function cidrContains(cidr: Cidr | string, address: string): boolean {
  const range = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  const value = addressValue(address);
  if (value === null) return false;
  return inRange(value, range.network, range.prefix, 128);
}
