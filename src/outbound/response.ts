/**
 * Reading an undici response for a script: headers flattened, the body read as UTF-8 text
 * under a size cap, and an abort signal honoured even before the request reaches a socket.
 */
import type { Dispatcher } from 'undici';
import { OutboundError } from './types.js';

/** Drops an unread body; undici reports that as an 'error' event, which nobody needs to hear. */
export function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * `pending`, or a rejection as soon as `signal` aborts, whichever comes first (undici defers
 * an abort until the request is on a socket). A response arriving after the abort is discarded.
 */
export function settleByAbort(
  pending: Promise<Dispatcher.ResponseData>,
  signal: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (response) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) discard(response.body);
        else resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Lower-case names; repeated headers (including `set-cookie`) joined with `, `. */
export function flattenHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * The body as UTF-8 text (a BOM dropped, invalid sequences replaced), failing with
 * `too_large` as soon as it is known to exceed `cap` bytes: from Content-Length before
 * reading, or from the bytes received so far.
 */
export async function readCappedBody(
  response: Dispatcher.ResponseData,
  cap: number,
  origin: string,
): Promise<string> {
  const tooLarge = () =>
    new OutboundError('too_large', `HTTP.request: the response from ${origin} is larger than ${cap} bytes`);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > cap) {
    discard(response.body);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      discard(response.body);
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return new TextDecoder('utf-8').decode(Buffer.concat(chunks, size));
}
