import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Makes the request-id generator: a fresh UUID, or with `trustHeader` the caller's
 * `X-Request-Id` when it is 1-64 safe characters (so a load balancer's id carries on).
 */
export function requestIdGenerator(trustHeader: boolean): (req: IncomingMessage) => string {
  return (req) => {
    if (trustHeader) {
      const given = req.headers['x-request-id'];
      if (typeof given === 'string' && SAFE_ID.test(given)) return given;
    }
    return randomUUID();
  };
}
