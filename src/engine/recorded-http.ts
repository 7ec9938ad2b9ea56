import type { OutboundCallRecord } from '../outbound/types.js';
import type { HttpResult, RecordedHttpCall } from './protocol.js';
import type { JobHttp } from './scheduler/job.js';

/** `http`, noting each call's method and URL and what it got into `calls` (for a recording). */
export function recordingHttp(http: JobHttp, calls: RecordedHttpCall[]): JobHttp {
  return {
    maxRequests: http.maxRequests,
    async call(request) {
      const result = await http.call(request);
      calls.push({ method: request.method, url: request.url, result });
      return result;
    },
  };
}

/**
 * Outbound calls answered from a recording, never from the network: each call gets the
 * answer of the first recorded call with the same method and URL not yet used; a call the
 * recording does not hold fails inside the script. `note` sees each call, as a dry run
 * reports them.
 */
export function replayingHttp(
  recorded: RecordedHttpCall[],
  note: (call: OutboundCallRecord) => void,
): JobHttp {
  const unused = [...recorded];
  return {
    maxRequests: Math.max(1, recorded.length),
    async call(request): Promise<HttpResult> {
      const method = request.method.toUpperCase();
      const at = unused.findIndex((c) => c.method.toUpperCase() === method && c.url === request.url);
      const found = at >= 0 ? unused.splice(at, 1)[0] : undefined;
      const result: HttpResult = found
        ? found.result
        : { ok: false, message: 'HTTP.request: the recording holds no answer for this call' };
      const url = new URL(request.url);
      note({
        method,
        url: `${url.origin}${url.pathname}`,
        status: result.ok ? result.response.status : null,
        ms: 0,
        error: null,
      });
      return result;
    },
  };
}
