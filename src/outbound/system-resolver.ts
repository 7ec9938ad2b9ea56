/**
 * Host-name resolution for outbound calls, off libuv's thread pool. `dns.lookup`
 * (getaddrinfo) runs on that pool's four threads, where scrypt verifications also run: a
 * burst of them delayed every script's lookup into its connect timeout. This resolver reads
 * the hosts file itself and asks DNS through c-ares (`dns.Resolver`), which works on the
 * event loop, so it keeps what getaddrinfo did for scripts ("files, then dns") without the
 * pool.
 */
import { Resolver as DnsResolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ResolvedAddress, Resolver } from './policy.js';

/** How long a read of the hosts file is reused. */
const HOSTS_TTL_MS = 5000;

/** RFC 6761 §6.3: `localhost` and names under it are loopback, never asked of DNS. */
const LOOPBACK: readonly ResolvedAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

/** The c-ares queries the resolver makes (a `dns.promises.Resolver` by default). */
export interface DnsQueries {
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
}

/** DNS answers that mean the name or the record does not exist (all else is a lookup failure). */
const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * The addresses of each name in a hosts file (names lower-cased), in file order, each
 * address once. Comments, blank lines and lines whose first field is not an IP address are
 * skipped; an address with a zone id (`fe80::1%eth0`) is kept as written.
 */
export function parseHosts(text: string): Map<string, ResolvedAddress[]> {
  const names = new Map<string, ResolvedAddress[]>();
  for (const line of text.split('\n')) {
    const [address, ...aliases] = (line.split('#')[0] ?? '').trim().split(/\s+/);
    if (address === undefined || aliases.length === 0) continue;
    const family = isIP(address.split('%')[0] ?? '');
    if (family === 0) continue;
    for (const alias of aliases) {
      const name = alias.toLowerCase();
      const known = names.get(name) ?? [];
      if (!known.some((entry) => entry.address === address)) known.push({ address, family });
      names.set(name, known);
    }
  }
  return names;
}

/** Options of `createSystemResolver`, for tests. */
export interface SystemResolverOptions {
  /** Reads the hosts file (default: `/etc/hosts`; a missing file is empty). */
  readHosts?: () => string;
  /** The DNS queries (default: a c-ares `dns.promises.Resolver` using the system's name servers). */
  dns?: DnsQueries;
  now?: () => number;
}

function readEtcHosts(): string {
  try {
    // A small file, re-read at most every HOSTS_TTL_MS; synchronous, since an asynchronous
    // read would go through the very thread pool this module keeps lookups off.
    return readFileSync('/etc/hosts', 'utf8');
  } catch {
    return '';
  }
}

/**
 * A Resolver answering from the hosts file when it names the host (as getaddrinfo does with
 * `hosts: files dns`), else loopback for `localhost` and `*.localhost`, else from DNS: A and
 * AAAA records queried at once through c-ares, IPv4 addresses first. Never touches libuv's
 * thread pool. A DNS failure is an error with `code` `ENOTFOUND` or `ENODATA` (no such
 * name or record), or `EAI_AGAIN` (no usable answer from the name servers).
 */
export function createSystemResolver(options: SystemResolverOptions = {}): Resolver {
  const readHosts = options.readHosts ?? readEtcHosts;
  const now = options.now ?? Date.now;
  let dns = options.dns;
  let hosts: { names: Map<string, ResolvedAddress[]>; readAt: number } | undefined;

  const fromHosts = (name: string): readonly ResolvedAddress[] | undefined => {
    if (hosts === undefined || now() - hosts.readAt >= HOSTS_TTL_MS) {
      hosts = { names: parseHosts(readHosts()), readAt: now() };
    }
    return hosts.names.get(name);
  };

  return async (hostname) => {
    const name = hostname.toLowerCase();
    const listed = fromHosts(name);
    if (listed !== undefined) return listed;
    if (name === 'localhost' || name.endsWith('.localhost')) return LOOPBACK;
    // One c-ares channel for the process, made on first use.
    dns ??= new DnsResolver();
    const [v4, v6] = await Promise.allSettled([dns.resolve4(hostname), dns.resolve6(hostname)]);
    const found: ResolvedAddress[] = [
      ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (found.length > 0) return found;
    throw dnsFailure(hostname, [v4, v6]);
  };
}

/** The error for a name neither query answered: not found when both said so, else a lookup failure. */
function dnsFailure(hostname: string, results: PromiseSettledResult<string[]>[]): Error {
  const codes = results.map((result) =>
    result.status === 'rejected' ? String((result.reason as { code?: unknown })?.code ?? '') : 'ENODATA',
  );
  const code = codes.every((c) => NOT_FOUND.has(c))
    ? codes.includes('ENOTFOUND')
      ? 'ENOTFOUND'
      : 'ENODATA'
    : 'EAI_AGAIN';
  return Object.assign(new Error(`DNS lookup of ${hostname} failed (${codes.join(', ')})`), {
    code,
    hostname,
  });
}
