import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import { describe, test } from 'node:test';
import {
  type AddressCategory,
  cidrContains,
  classifyAddress,
  parseCidr,
} from '../src/outbound/address-ranges.js';

const CLASSIFICATIONS: Record<AddressCategory, string[]> = {
  public: [
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '192.169.0.0',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  ],
  loopback: [
    '127.0.0.1',
    '127.255.255.254',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '0:0:0:0:0:ffff:7f00:1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
  ],
  unspecified: ['0.0.0.0', '0.1.2.3', '::', '::ffff:0.0.0.0'],
  private: [
    '10.0.0.5',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:10.0.0.5',
    '::ffff:a00:5',
    '::ffff:0:10.0.0.5',
    '64:ff9b::a00:5',
    '2002:a00:5::1',
    '2001:0:4136:e378::f5ff:fffa',
  ],
  'link-local': ['169.254.1.1', 'fe80::1', 'fe80::1%eth0', 'febf::1', '::ffff:169.254.1.1'],
  cgnat: ['100.64.0.1', '100.127.255.255', '::ffff:100.64.0.1'],
  multicast: ['224.0.0.1', '239.255.255.255', 'ff02::1', 'ff0e::1', '::ffff:224.0.0.1'],
  reserved: [
    '240.0.0.1',
    '255.255.255.255',
    '192.0.0.8',
    '4000::1',
    '100::1',
    '::8.8.8.8',
    '2001:0:a00:1::f7f7:f7f7',
  ],
  documentation: [
    '192.0.2.1',
    '198.51.100.7',
    '203.0.113.9',
    '198.18.0.1',
    '198.19.255.255',
    '2001:db8::1',
    '3fff::1',
  ],
  metadata: [
    '169.254.169.254',
    '169.254.170.2',
    '100.100.100.200',
    'fd00:ec2::254',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '64:ff9b::169.254.169.254',
    '2002:a9fe:a9fe::1',
  ],
};

describe('address classification', () => {
  for (const [category, addresses] of Object.entries(CLASSIFICATIONS)) {
    test(`classifies ${addresses.join(', ')} as ${category}`, () => {
      for (const address of addresses) assert.equal(classifyAddress(address), category, address);
    });
  }

  test('refuses to classify strings that are not IP addresses, including shorthand IPv4', () => {
    for (const text of ['example.com', '127.1', '0x7f000001', '', '[::1]']) {
      assert.throws(() => classifyAddress(text), TypeError, text);
    }
  });
});

const CONTAINMENT: [string, string, boolean][] = [
  ['10.1.0.0/16', '10.1.2.3', true],
  ['10.1.0.0/16', '10.2.0.1', false],
  ['10.1.0.0/16', '::ffff:10.1.2.3', true],
  ['10.1.0.0/16', '::ffff:a01:203', true],
  ['::ffff:10.0.0.0/104', '10.1.2.3', true],
  ['fd00::/8', 'fd12::1', true],
  ['fd00::/8', '10.0.0.1', false],
  ['0.0.0.0/0', '8.8.8.8', true],
  ['0.0.0.0/0', '::1', false],
  ['::/0', '8.8.8.8', true],
  ['127.0.0.1', '127.0.0.1', true],
  ['127.0.0.1', '127.0.0.2', false],
];

describe('CIDRs', () => {
  test('parseCidr normalises IPv4, IPv6, mapped and single-address forms', () => {
    const cases: [string, string, 4 | 6][] = [
      ['10.1.0.0/16', '10.1.0.0/16', 4],
      ['10.1.2.3', '10.1.2.3/32', 4],
      ['2001:DB8::/32', '2001:db8::/32', 6],
      ['::1', '::1/128', 6],
      ['::ffff:a00:0/104', '::ffff:10.0.0.0/104', 6],
    ];
    for (const [input, text, family] of cases) {
      assert.deepEqual([parseCidr(input).text, parseCidr(input).family], [text, family], input);
    }
  });

  test('parseCidr rejects malformed CIDRs with a message naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['10.1.2.3/16', /host bits set; did you mean 10\.1\.0\.0\/16/],
      ['10.0.0.0/33', /longer than \/32/],
      ['::/129', /longer than \/128/],
      ['10.0.0.0/', /invalid prefix length/],
      ['10.0.0.0/08', /invalid prefix length/],
      ['fe80::1%eth0', /zone id/],
      ['example.com', /not an IP address or CIDR/],
      ['127.1', /not an IP address or CIDR/],
    ];
    for (const [input, message] of cases) assert.throws(() => parseCidr(input), message, input);
  });

  for (const [cidr, address, expected] of CONTAINMENT) {
    test(`${cidr} ${expected ? 'contains' : 'does not contain'} ${address}`, () => {
      assert.equal(cidrContains(cidr, address), expected);
    });
  }

  test('cidrContains gives the same answers as node:net BlockList, including for mapped addresses', () => {
    for (const [cidr, address, expected] of CONTAINMENT) {
      const [network = '', bits] = cidr.split('/');
      const family = isIP(network) === 4 ? 'ipv4' : 'ipv6';
      const list = new BlockList();
      list.addSubnet(network, bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits), family);
      assert.equal(
        list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6'),
        expected,
        `${cidr} ∋ ${address}`,
      );
    }
  });

  test('a string that is not an IP address is never contained', () => {
    assert.equal(cidrContains('0.0.0.0/0', 'example.com'), false);
  });
});
