/**
 * The socket connector of outbound calls: undici's own connector (TCP, or TLS verifying the
 * host name as usual) with a checked `lookup`, a precise connect timeout covering
 * resolution, TCP and the TLS handshake, and cancellation by the call's signal.
 */
import type { LookupFunction } from 'node:net';
import { buildConnector, errors } from 'undici';

/**
 * A connector for an undici Agent that resolves names only through `lookup`, fails with an
 * `UND_ERR_CONNECT_TIMEOUT` error when no connection is ready within `timeoutMs`, and gives
 * up at once (with the signal's reason) when `signal` aborts. undici's built-in connect
 * timeout is disabled: it runs on a coarse timer that can fire up to a second late, and an
 * aborted request does not stop a connection attempt that is under way.
 */
export function checkedConnector(
  timeoutMs: number,
  lookup: LookupFunction,
  signal?: AbortSignal,
): buildConnector.connector {
  const connect = buildConnector({ timeout: 0, lookup });
  return (options, callback) => {
    let settled = false;
    let socket: { destroy(): void } | undefined;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      callback(error, null);
    };
    const onAbort = () =>
      fail(signal?.reason instanceof Error ? signal.reason : new errors.RequestAbortedError());
    const timer = setTimeout(
      () =>
        fail(new errors.ConnectTimeoutError(`no connection to ${options.hostname} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    // undici's connector returns the socket it creates (its types say void); keep it to destroy.
    const created: unknown = connect(options, (...result) => {
      if (settled) {
        result[1]?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      callback(...result);
    });
    if (typeof (created as { destroy?: unknown } | undefined)?.destroy === 'function') {
      socket = created as { destroy(): void };
    }
  };
}
