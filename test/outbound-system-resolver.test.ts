import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { describe, test } from 'node:test';
import { compilePolicy, createCheckedLookup, parseAllowEntry } from '../src/outbound/policy.js';
import { createSystemResolver, type DnsQueries, parseHosts } from '../src/outbound/system-resolver.js';

const HOSTS = `
# comment line
127.0.0.1   localhost
::1         localhost ip6-localhost   # trailing comment
10.0.0.5    Internal.Example internal
10.0.0.6    internal
not-an-ip   ignored.example
fe80::1%eth0 linklocal.example
`;

/** DNS answers from a table (`code:X` rejects with that code), recording the questions. */
function fakeDns(table: Record<string, { a?: string[] | string; aaaa?: string[] | string }>) {
  const asked: string[] = [];
  const answer = (value: string[] | string | undefined) =>
    typeof value === 'string'
      ? Promise.reject(Object.assign(new Error(value), { code: value }))
      : value === undefined
        ? Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }))
        : Promise.resolve(value);
  const dns: DnsQueries = {
    resolve4: async (name) => {
      asked.push(`A ${name}`);
      return answer(table[name]?.a);
    },
    resolve6: async (name) => {
      asked.push(`AAAA ${name}`);
      return answer(table[name]?.aaaa);
    },
  };
  return { dns, asked };
}

describe('the outbound system resolver', () => {
  test('parses a hosts file: names case-insensitive, addresses in file order, comments and junk skipped', () => {
    const names = parseHosts(HOSTS);
    assert.deepEqual(names.get('localhost'), [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    assert.deepEqual(names.get('internal'), [
      { address: '10.0.0.5', family: 4 },
      { address: '10.0.0.6', family: 4 },
    ]);
    assert.deepEqual(names.get('internal.example'), [{ address: '10.0.0.5', family: 4 }]);
    assert.deepEqual(names.get('linklocal.example'), [{ address: 'fe80::1%eth0', family: 6 }]);
    assert.equal(names.has('ignored.example'), false);
    assert.equal(names.has('#'), false);
  });

  test('the hosts file answers first, without asking DNS, and is read again after 5 s', async () => {
    const { dns, asked } = fakeDns({ 'internal.example': { a: ['203.0.113.1'] } });
    let text = HOSTS;
    let reads = 0;
    const clock = { now: 0 };
    const resolve = createSystemResolver({
      dns,
      now: () => clock.now,
      readHosts: () => {
        reads++;
        return text;
      },
    });
    assert.deepEqual(await resolve('INTERNAL.example'), [{ address: '10.0.0.5', family: 4 }]);
    assert.deepEqual(asked, []);
    text = '';
    assert.deepEqual(await resolve('internal.example'), [{ address: '10.0.0.5', family: 4 }], 'cached read');
    clock.now += 5000;
    assert.deepEqual(await resolve('internal.example'), [{ address: '203.0.113.1', family: 4 }]);
    assert.equal(reads, 2);
  });

  test('localhost is loopback even when the hosts file does not list it, and never asked of DNS', async () => {
    const { dns, asked } = fakeDns({});
    const resolve = createSystemResolver({ dns, readHosts: () => '' });
    const loopback = [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
    assert.deepEqual(await resolve('localhost'), loopback);
    assert.deepEqual(await resolve('api.localhost'), loopback);
    assert.deepEqual(asked, []);
  });

  test('DNS: A and AAAA asked at once, IPv4 first; one family missing is fine', async () => {
    const { dns, asked } = fakeDns({
      'both.example': { a: ['203.0.113.1'], aaaa: ['2001:db8::1'] },
      'v6.example': { a: 'ENODATA', aaaa: ['2001:db8::2'] },
      'v4.example': { a: ['203.0.113.3'], aaaa: 'ETIMEOUT' },
    });
    const resolve = createSystemResolver({ dns, readHosts: () => '' });
    assert.deepEqual(await resolve('both.example'), [
      { address: '203.0.113.1', family: 4 },
      { address: '2001:db8::1', family: 6 },
    ]);
    assert.deepEqual(asked, ['A both.example', 'AAAA both.example']);
    assert.deepEqual(await resolve('v6.example'), [{ address: '2001:db8::2', family: 6 }]);
    assert.deepEqual(await resolve('v4.example'), [{ address: '203.0.113.3', family: 4 }]);
  });

  test('DNS failures: ENOTFOUND or ENODATA when the name or its records do not exist, EAI_AGAIN otherwise', async () => {
    const { dns } = fakeDns({
      'norecords.example': { a: 'ENODATA', aaaa: 'ENODATA' },
      'down.example': { a: 'ECONNREFUSED', aaaa: 'ECONNREFUSED' },
      'half.example': { a: 'ENOTFOUND', aaaa: 'ETIMEOUT' },
    });
    const resolve = createSystemResolver({ dns, readHosts: () => '' });
    await assert.rejects(resolve('nowhere.example'), { code: 'ENOTFOUND', hostname: 'nowhere.example' });
    await assert.rejects(resolve('norecords.example'), { code: 'ENODATA' });
    await assert.rejects(resolve('down.example'), { code: 'EAI_AGAIN' });
    await assert.rejects(resolve('half.example'), { code: 'EAI_AGAIN' });
  });

  test("scripts' host-name lookups do not wait for libuv's thread pool, which a burst of slow hashes holds", async () => {
    const policy = compilePolicy({ allow: ['http://localhost:8080'], allow_addresses: ['127.0.0.1'] });
    const lookup = createCheckedLookup(policy, parseAllowEntry('http://localhost:8080'));
    // Eight slow key derivations on the four-thread pool: a getaddrinfo would queue behind them.
    let hashesDone = 0;
    const hashes = Array.from(
      { length: 8 },
      () =>
        new Promise<void>((resolve, reject) =>
          pbkdf2('secret', 'salt', 300_000, 32, 'sha256', (error) => {
            hashesDone++;
            return error ? reject(error) : resolve();
          }),
        ),
    );
    const address = await new Promise<string>((resolve, reject) =>
      lookup('localhost', { family: 4 }, (error, found) => (error ? reject(error) : resolve(String(found)))),
    );
    const doneBefore = hashesDone;
    await Promise.all(hashes);
    assert.equal(address, '127.0.0.1');
    assert.equal(doneBefore, 0, 'resolved while every pool thread was busy');
  });
});
