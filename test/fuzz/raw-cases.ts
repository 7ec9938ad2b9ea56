/**
 * Malformed HTTP written by hand over a socket (node:net to 127.0.0.1): what undici
 * or fetch will not send. Each case says how many answers it expects and whether the
 * server may instead just close the connection (only for requests cut short).
 */
import { basic } from '../helpers/registrar.js';
import type { Rng } from './prng.js';
import { CLIENTS } from './target.js';

/** One raw exchange. */
export interface RawCase {
  name: string;
  bytes: Buffer;
  /** Answers to read (pipelined requests give several). */
  answers: number;
  /** True when the client stops sending mid-request: closing without an answer is fine. */
  mayCloseSilently: boolean;
  /** Half-close the client side after sending. */
  end: boolean;
}

const HOST = 'Host: registrar\r\n';
const BACKCHANNEL = '/oauth/api/v3/custom-registration/echo/backchannel';

const lines = (...parts: string[]) => Buffer.from(parts.join(''), 'latin1');

/** A well-formed request, to surround bad ones with. */
function goodRequest(rng: Rng): string {
  if (rng.chance(0.5)) return `GET /healthz HTTP/1.1\r\n${HOST}\r\n`;
  const body = JSON.stringify({ data: 'raw' });
  const auth = basic(CLIENTS.portal.id, CLIENTS.portal.secret);
  return `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Authorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** One malformed (or merely unusual) exchange. */
export function rawCase(rng: Rng): RawCase {
  const one = (name: string, bytes: Buffer, extra: Partial<RawCase> = {}): RawCase => ({
    name,
    bytes,
    answers: 1,
    mayCloseSilently: false,
    end: false,
    ...extra,
  });
  const cut = (name: string, bytes: Buffer) => one(name, bytes, { mayCloseSilently: true, end: true });
  const make = rng.pick<() => RawCase>([
    () => one('garbage request line', Buffer.concat([rng.bytes(rng.between(1, 64)), lines('\r\n\r\n')])),
    () =>
      one(
        'unknown HTTP version',
        lines(`GET /healthz ${rng.pick(['HTTP/9.9', 'HTTP/1.1x', 'HTTP/', 'FTP/1.0'])}\r\n${HOST}\r\n`),
      ),
    () => one('header without a colon', lines(`GET /healthz HTTP/1.1\r\n${HOST}NoColonHere\r\n\r\n`)),
    () => one('space before a colon', lines(`GET /healthz HTTP/1.1\r\n${HOST}X-A : b\r\n\r\n`)),
    () => one('NUL in a header value', lines(`GET /healthz HTTP/1.1\r\n${HOST}X-A: a\u0000b\r\n\r\n`)),
    () => one('obs-fold', lines(`GET /healthz HTTP/1.1\r\n${HOST}X-A: a\r\n  folded\r\n\r\n`)),
    () => one('bare LF line ends', lines(`GET /healthz HTTP/1.1\n${HOST.trim()}\n\n`)),
    () => one('bare CR', lines(`GET /healthz HTTP/1.1\r${HOST}\r\n`)),
    () =>
      one(
        'Transfer-Encoding with Content-Length',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'two Content-Lengths',
        lines(`POST /healthz HTTP/1.1\r\n${HOST}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`),
      ),
    () =>
      one(
        'odd Content-Length',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Content-Length: ${rng.pick(['-1', 'abc', '1e3', '99999999999999999999', '+5', '0x10'])}\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'bad chunk size',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'odd Transfer-Encoding',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Transfer-Encoding: ${rng.pick(['gzip', 'chunked, gzip', 'identity', 'xchunked'])}\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'huge chunk extension',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'headers over 16 KiB',
        lines(
          `GET /healthz HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(rng.pick([16_500, 17_000, 64_000]))}\r\n\r\n`,
        ),
      ),
    () =>
      one(
        'many headers',
        lines(`GET /healthz HTTP/1.1\r\n${HOST}${'X-N: 1\r\n'.repeat(rng.pick([100, 2100]))}\r\n`),
      ),
    () =>
      one(
        'Expect other than 100-continue',
        lines(`GET /healthz HTTP/1.1\r\n${HOST}Expect: ${rng.pick(['foo', '100-continue-x', ''])}\r\n\r\n`),
      ),
    () =>
      one(
        'Expect: 100-continue',
        lines(
          `POST /oauth/api/v3/custom-registration/nope/backchannel HTTP/1.1\r\n${HOST}Expect: 100-continue\r\nContent-Length: 0\r\n\r\n`,
        ),
        { answers: 2 },
      ),
    () =>
      one(
        'upgrade',
        lines(
          `GET /healthz HTTP/1.1\r\n${HOST}Connection: Upgrade\r\nUpgrade: ${rng.pick(['websocket', 'h2c', 'x'])}\r\n\r\n`,
        ),
      ),
    () => one('CONNECT', lines('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n')),
    () => one('HTTP/1.0 without Host', lines('GET /healthz HTTP/1.0\r\n\r\n')),
    () => one('HTTP/1.1 without Host', lines('GET /healthz HTTP/1.1\r\n\r\n')),
    () => one('absolute-form target', lines(`GET http://registrar/healthz HTTP/1.1\r\n${HOST}\r\n`)),
    () => one('asterisk-form target', lines(`OPTIONS * HTTP/1.1\r\n${HOST}\r\n`)),
    () =>
      one(
        'raw bytes in the target',
        lines(`GET /oauth/api/v3/custom-registration/\u00e9\u00ff/backchannel HTTP/1.1\r\n${HOST}\r\n`),
      ),
    () =>
      one(
        'unknown method',
        lines(`${rng.pick(['BREW', 'get', 'G ET', 'PRI'])} /healthz HTTP/1.1\r\n${HOST}\r\n`),
      ),
    () =>
      one('pipelined, bad last', lines(goodRequest(rng), goodRequest(rng), 'GARBAGE\r\n\r\n'), {
        answers: 3,
      }),
    () =>
      one('pipelined good requests', lines(goodRequest(rng), goodRequest(rng), goodRequest(rng)), {
        answers: 3,
      }),
    () => cut('headers cut short', lines(`GET /healthz HTTP/1.1\r\n${HOST}X-A: `)),
    () =>
      cut(
        'body cut short',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data":`,
        ),
      ),
    () =>
      cut(
        'chunked body cut short',
        lines(
          `POST ${BACKCHANNEL} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"da`,
        ),
      ),
    () => cut('nothing at all', Buffer.alloc(0)),
  ]);
  return make();
}
