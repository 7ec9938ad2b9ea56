import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compilePolicy,
  EgressConfigError,
  egressSchema,
  idpEgressSchema,
  parseAllowEntry,
} from '../src/outbound/policy.js';

describe('allow-list entries', () => {
  test('entries are normalised: scheme and host lowercased, trailing dot dropped, default port omitted', () => {
    const cases: [string, string, string, string, number | '*'][] = [
      ['https://API.Example.COM.', 'https://api.example.com', 'name', 'api.example.com', 443],
      ['HTTP://example.com', 'http://example.com', 'name', 'example.com', 80],
      ['https://example.com:443', 'https://example.com', 'name', 'example.com', 443],
      ['https://example.com:8443', 'https://example.com:8443', 'name', 'example.com', 8443],
      ['https://example.com:*', 'https://example.com:*', 'name', 'example.com', '*'],
      ['https://*.Example.com', 'https://*.example.com', 'wildcard', 'example.com', 443],
      ['http://127.0.0.1:4000', 'http://127.0.0.1:4000', 'ipv4', '127.0.0.1', 4000],
      ['http://[::1]:4000', 'http://[::1]:4000', 'ipv6', '::1', 4000],
      ['http://[2001:DB8::0:1]', 'http://[2001:db8::1]', 'ipv6', '2001:db8::1', 80],
      ['https://xn--bcher-kva.de', 'https://xn--bcher-kva.de', 'name', 'xn--bcher-kva.de', 443],
      ['http://registry_1.internal', 'http://registry_1.internal', 'name', 'registry_1.internal', 80],
    ];
    for (const [input, text, kind, host, port] of cases) {
      const entry = parseAllowEntry(input);
      assert.deepEqual([entry.text, entry.kind, entry.host, entry.port], [text, kind, host, port], input);
    }
  });

  test('invalid entries are rejected with a message naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['example.com', /is not a URL origin/],
      ['ftp://example.com', /only http and https/],
      ['https://user:pw@example.com', /must not contain credentials/],
      ['https://example.com/', /must not contain a path \(not even a trailing \/\)/],
      ['https://example.com/api', /must not contain a path/],
      ['https://example.com?x=1', /must not contain a query/],
      ['https://example.com#top', /must not contain a fragment/],
      ['https://example.com:0', /invalid port "0"/],
      ['https://example.com:65536', /invalid port/],
      ['https://example.com:08080', /invalid port/],
      ['https://bücher.de', /punycode as "xn--bcher-kva\.de"/],
      ['https://xn--zz.example.com', /invalid punycode/],
      ['https://*.com', /too broad/],
      ['https://api.*.example.com', /whole leading label/],
      ['https://*example.com', /whole leading label/],
      ['http://::1', /without brackets/],
      ['http://[::1', /unterminated/],
      ['http://[::1]x', /unexpected text after/],
      ['http://[fe80::1%25eth0]', /zone id/],
      ['http://[example.com]', /not an IPv6 address/],
      ['http://127.1', /not a valid IPv4 address/],
      ['http://0x7f000001', /not a valid IPv4 address/],
      ['https://', /has no host/],
      ['https://-bad.example.com', /invalid host label "-bad"/],
      ['https://a..b.com', /empty label/],
    ];
    for (const [input, message] of cases) assert.throws(() => parseAllowEntry(input), message, input);
  });

  test('the zod schemas report each bad entry at its path and default to empty lists', () => {
    const result = egressSchema.safeParse({
      allow: ['https://example.com/x'],
      allow_addresses: ['10.0.0.0/33'],
    });
    assert.equal(result.success, false);
    const issues = result.error?.issues.map((issue) => [issue.path.join('.'), issue.message]);
    assert.deepEqual(issues, [
      [
        'allow.0',
        '"https://example.com/x" must not contain a path (not even a trailing /); write it as scheme://host[:port]',
      ],
      ['allow_addresses.0', '"10.0.0.0/33" has a prefix longer than /32'],
    ]);
    assert.deepEqual(egressSchema.parse({}), { allow: [], allow_addresses: [] });
    assert.deepEqual(idpEgressSchema.parse({}), {});
    assert.equal(idpEgressSchema.safeParse({ allowed: [] }).success, false);
  });

  test('compilePolicy lists every invalid entry of the installation and the IdP', () => {
    assert.throws(
      () => compilePolicy({ allow: ['ftp://a.example'], allow_addresses: [] }, { allow_addresses: ['nope'] }),
      (error: unknown) => {
        assert.ok(error instanceof EgressConfigError, 'an EgressConfigError');
        assert.equal(error.problems.length, 2);
        return true;
      },
    );
  });
});

const policy = compilePolicy({
  allow: [
    'https://api.example.com',
    'https://*.corp.example',
    'http://127.0.0.1:4000',
    'http://[::1]:4001',
    'https://any-port.example:*',
    'http://plain.example:8080',
  ],
  allow_addresses: [],
});

describe('checkUrl', () => {
  const cases: [string, string | null][] = [
    ['https://api.example.com/v1?x=1', 'https://api.example.com'],
    ['https://API.EXAMPLE.COM./v1', 'https://api.example.com'],
    ['https://api.example.com:443/', 'https://api.example.com'],
    ['https://api.example.com:8443/', null],
    ['http://api.example.com/', null],
    ['https://a.corp.example/', 'https://*.corp.example'],
    ['https://a.b.c.corp.example/', 'https://*.corp.example'],
    ['https://corp.example/', null],
    ['https://xcorp.example/', null],
    ['https://a..corp.example/', null],
    ['https://any-port.example:1/', 'https://any-port.example:*'],
    ['https://any-port.example/', 'https://any-port.example:*'],
    ['https://any-port.example:0/', null],
    ['http://plain.example:8080/', 'http://plain.example:8080'],
    ['http://plain.example/', null],
    ['http://127.0.0.1:4000/', 'http://127.0.0.1:4000'],
    ['http://127.1:4000/', 'http://127.0.0.1:4000'],
    ['http://[::ffff:127.0.0.1]:4000/', 'http://127.0.0.1:4000'],
    ['http://127.0.0.2:4000/', null],
    ['http://127.0.0.1:4001/', null],
    ['http://[::1]:4001/', 'http://[::1]:4001'],
    ['http://[0:0::1]:4001/', 'http://[::1]:4001'],
    ['https://evil.example/', null],
  ];
  for (const [url, expected] of cases) {
    test(`${url} ${expected ? `matches ${expected}` : 'is not on the allow-list'}`, () => {
      const result = policy.checkUrl(url);
      assert.equal(result.ok ? result.matched.text : null, expected, result.ok ? 'matched' : result.reason);
    });
  }

  test('an accepted URL reports the normalised host (no brackets, no trailing dot), port and scheme', () => {
    const named = policy.checkUrl('https://API.Example.com./x');
    assert.ok(named.ok, 'accepted');
    assert.deepEqual(
      [named.host, named.port, named.scheme, named.url.pathname],
      ['api.example.com', 443, 'https', '/x'],
    );
    const literal = policy.checkUrl('http://[::1]:4001/');
    assert.ok(literal.ok, 'accepted');
    assert.equal(literal.host, '::1');
  });

  test('a refusal names only the origin, never the path, query or credentials', () => {
    assert.deepEqual(policy.checkUrl('https://evil.example/path?token=secret'), {
      ok: false,
      reason: 'HTTP.request: https://evil.example:443 is not on the allow-list',
    });
    assert.deepEqual(policy.checkUrl('https://user:secret@api.example.com/x'), {
      ok: false,
      reason: 'HTTP.request: credentials in the URL are not allowed (https://api.example.com:443)',
    });
  });

  test('non-http schemes and unparsable URLs are refused', () => {
    for (const url of [
      'ftp://api.example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'ws://api.example.com/',
    ]) {
      const result = policy.checkUrl(url);
      assert.ok(!result.ok && /only http and https URLs are allowed/.test(result.reason), url);
    }
    for (const url of ['not a url', '/relative/path', 'http://']) {
      const result = policy.checkUrl(url);
      assert.ok(!result.ok && result.reason === 'HTTP.request: the url is not a valid absolute URL', url);
    }
  });

  test('an IP-literal URL is also address-checked: a listed metadata literal still needs allow_addresses', () => {
    const listed = { allow: ['http://169.254.169.254'], allow_addresses: [] };
    const refused = compilePolicy(listed).checkUrl('http://169.254.169.254/latest/meta-data/');
    assert.ok(!refused.ok && /cloud metadata address/.test(refused.reason), 'refused');
    const unlocked = compilePolicy({ ...listed, allow_addresses: ['169.254.169.254'] });
    assert.equal(unlocked.checkUrl('http://169.254.169.254/').ok, true);
  });

  test('IP-literal URLs never match name or wildcard entries', () => {
    const names = compilePolicy({
      allow: ['http://*.example.com:*', 'http://localhost:*'],
      allow_addresses: [],
    });
    assert.equal(names.checkUrl('http://127.0.0.1/').ok, false);
  });
});

describe('checkAddress', () => {
  const named = parseAllowEntry('https://api.example.com');
  const loopback = parseAllowEntry('http://127.0.0.1:4000');

  test('public addresses pass for any entry', () => {
    for (const address of ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']) {
      assert.deepEqual(policy.checkAddress(address, named), { ok: true });
    }
  });

  test('special-range addresses are refused for a named host, with the category in the reason', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['10.0.0.5', 'private'],
      ['::ffff:10.0.0.5', 'private'],
      ['fe80::1', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['224.0.0.1', 'multicast'],
      ['192.0.2.1', 'documentation'],
      ['0.0.0.0', 'unspecified'],
    ];
    for (const [address, category] of cases) {
      assert.deepEqual(
        policy.checkAddress(address, named),
        {
          ok: false,
          reason: `HTTP.request: ${address} is a ${category} address, refused unless allow_addresses covers it`,
        },
        address,
      );
    }
  });

  test('an IP-literal entry allows exactly its own address, in either IPv4 or mapped form', () => {
    assert.equal(policy.checkAddress('127.0.0.1', loopback).ok, true);
    assert.equal(policy.checkAddress('::ffff:127.0.0.1', loopback).ok, true);
    assert.equal(policy.checkAddress('127.0.0.2', loopback).ok, false);
    assert.equal(policy.checkAddress('::1', loopback).ok, false);
  });

  test('allow_addresses CIDRs unlock the special addresses they contain', () => {
    const open = compilePolicy({ allow: [], allow_addresses: ['10.0.0.0/8', 'fd00::/8'] });
    for (const address of ['10.0.0.5', '::ffff:10.0.0.5', '::ffff:a00:5', 'fd12::1']) {
      assert.equal(open.checkAddress(address, named).ok, true, address);
    }
    assert.equal(open.checkAddress('192.168.0.1', named).ok, false);
  });

  test('a metadata address is not unlocked by a broader CIDR or an IP-literal entry, only by naming it', () => {
    const broad = compilePolicy({
      allow: [],
      allow_addresses: ['169.254.0.0/16', '0.0.0.0/0', '::/0', 'fd00::/8'],
    });
    for (const address of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', '100.100.100.200']) {
      const result = broad.checkAddress(address, named);
      assert.ok(!result.ok && /cloud metadata address/.test(result.reason), address);
    }
    assert.equal(broad.checkAddress('169.254.1.1', named).ok, true);
    assert.equal(policy.checkAddress('169.254.169.254', parseAllowEntry('http://169.254.169.254')).ok, false);
    for (const exact of ['169.254.169.254', '169.254.169.254/32', '::ffff:169.254.169.254']) {
      const unlocked = compilePolicy({ allow: [], allow_addresses: [exact] });
      assert.equal(unlocked.checkAddress('169.254.169.254', named).ok, true, exact);
    }
  });

  test('a string that is not an IP address is refused', () => {
    assert.equal(policy.checkAddress('example.com', named).ok, false);
  });

  test('the effective policy is the union of the installation and the IdP, without duplicates', () => {
    const union = compilePolicy(
      { allow: ['https://a.example', 'https://b.example'], allow_addresses: ['10.0.0.0/8'] },
      { allow: ['https://B.example.', 'https://c.example'], allow_addresses: ['192.168.0.0/16'] },
    );
    assert.deepEqual(
      union.entries.map((entry) => entry.text),
      ['https://a.example', 'https://b.example', 'https://c.example'],
    );
    assert.equal(
      union.checkAddress('10.0.0.5', named).ok && union.checkAddress('192.168.1.1', named).ok,
      true,
    );
    assert.equal(
      compilePolicy({ allow: ['https://a.example'], allow_addresses: [] }).checkUrl('https://c.example').ok,
      false,
    );
  });
});
