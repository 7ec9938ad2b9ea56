import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type LookupFunction } from 'node:net';
import { describe, test } from 'node:test';
import {
  compilePolicy,
  createCheckedLookup,
  EGRESS_REFUSED,
  EgressRefusedError,
  parseAllowEntry,
  type ResolvedAddress,
  type Resolver,
} from '../src/outbound/policy.js';

const policy = compilePolicy({
  allow: ['https://api.example.com', 'http://127.0.0.1:4000'],
  allow_addresses: [],
});

/** A resolver answering from a table, recording the names it was asked for. */
function fakeResolver(table: Record<string, ResolvedAddress[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (hostname: string) => {
    asked.push(hostname);
    return table[hostname] ?? [];
  };
  return Object.assign(resolve, { asked });
}

/** Calls a lookup function the way net.connect does and returns what it answered. */
function lookupVia(
  lookup: LookupFunction,
  hostname: string,
  options: { all?: boolean; family?: number } = {},
) {
  return new Promise<{ address: unknown; family?: number }>((resolve, reject) => {
    lookup(hostname, options, (error, address, family) =>
      error ? reject(error) : resolve({ address, family }),
    );
  });
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

describe('createCheckedLookup', () => {
  const entry = parseAllowEntry('https://api.example.com');
  const table = {
    'internal.example': [v4('10.0.0.5')],
    'mixed.example': [v4('10.0.0.5'), v4('93.184.215.14'), v6('fd00::1'), v6('2606:2800::1')],
  };

  test('a name resolving to a private address is refused with EGRESS_REFUSED and a clear message', async () => {
    const lookup = createCheckedLookup(policy, entry, fakeResolver(table));
    await assert.rejects(lookupVia(lookup, 'internal.example'), (error: unknown) => {
      assert.ok(error instanceof EgressRefusedError, 'an EgressRefusedError');
      assert.equal(error.code, EGRESS_REFUSED);
      assert.equal(
        error.message,
        'HTTP.request: refused to connect to internal.example: 10.0.0.5 is a private address, refused unless allow_addresses covers it',
      );
      return true;
    });
  });

  test('the same name is allowed when allow_addresses names the address', async () => {
    const open = compilePolicy({ allow: ['https://api.example.com'], allow_addresses: ['10.0.0.5'] });
    const answer = await lookupVia(createCheckedLookup(open, entry, fakeResolver(table)), 'internal.example');
    assert.deepEqual(answer, { address: '10.0.0.5', family: 4 });
  });

  test('mixed public and private answers pass only the public ones, in resolver order', async () => {
    const lookup = createCheckedLookup(policy, entry, fakeResolver(table));
    assert.deepEqual(await lookupVia(lookup, 'mixed.example', { all: true }), {
      address: [v4('93.184.215.14'), v6('2606:2800::1')],
      family: undefined,
    });
    assert.deepEqual(await lookupVia(lookup, 'mixed.example'), { address: '93.184.215.14', family: 4 });
    assert.deepEqual(await lookupVia(lookup, 'mixed.example', { family: 6 }), {
      address: '2606:2800::1',
      family: 6,
    });
  });

  test('an IP-literal host name is checked without asking the resolver', async () => {
    const resolver = fakeResolver(table);
    const literal = createCheckedLookup(policy, parseAllowEntry('http://127.0.0.1:4000'), resolver);
    assert.deepEqual(await lookupVia(literal, '127.0.0.1', { all: true }), {
      address: [v4('127.0.0.1')],
      family: undefined,
    });
    await assert.rejects(lookupVia(createCheckedLookup(policy, entry, resolver), '[::1]'), {
      code: EGRESS_REFUSED,
    });
    assert.deepEqual(resolver.asked, []);
  });

  test('resolver failures are passed on unchanged, and an empty answer is ENOTFOUND', async () => {
    const failure = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' });
    const failing = createCheckedLookup(policy, entry, () => Promise.reject(failure));
    await assert.rejects(lookupVia(failing, 'nowhere.example'), (error) => error === failure);
    const empty = createCheckedLookup(policy, entry, fakeResolver({}));
    await assert.rejects(lookupVia(empty, 'nothing.example'), { code: 'ENOTFOUND' });
  });

  test('the default resolver refuses localhost, which resolves only to loopback', async () => {
    await assert.rejects(lookupVia(createCheckedLookup(policy, entry), 'localhost'), {
      code: EGRESS_REFUSED,
    });
  });

  test('net.connect connects to the checked address, and fails with EGRESS_REFUSED when refused', async () => {
    const server = createServer((socket) => socket.end('hello'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const names = { 'upstream.test': [v4('127.0.0.1')] };
      const open = compilePolicy({ allow: [`http://upstream.test:${port}`], allow_addresses: ['127.0.0.1'] });
      const lookup = createCheckedLookup(
        open,
        parseAllowEntry(`http://upstream.test:${port}`),
        fakeResolver(names),
      );
      const socket = connect({ host: 'upstream.test', port, lookup });
      const [data] = await once(socket, 'data');
      assert.equal(String(data), 'hello');
      socket.destroy();
      const refusing = createCheckedLookup(policy, entry, fakeResolver(names));
      const [error] = await once(
        connect({ host: 'upstream.test', port, lookup: refusing }).on('data', () => {}),
        'error',
      );
      assert.equal((error as NodeJS.ErrnoException).code, EGRESS_REFUSED);
    } finally {
      server.close();
    }
  });
});
