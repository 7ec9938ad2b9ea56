import type { EgressPolicy, Resolver } from './policy.js';

/** A header value a script sends: text, or a reference to a property the script never sees. */
export type HeaderValue = string | { $property: string };

/** What a script passes to `HTTP.request` (already shape-checked in the sandbox). */
export interface ScriptHttpRequest {
  method: string;
  url: string;
  headers: Record<string, HeaderValue>;
  /** Text, a property reference, or absent. */
  body?: string | { $property: string };
  /** The script's own timeout; the call gets the smaller of this and the execution's remaining wall time. */
  timeoutMs?: number;
}

/** What the script gets back. Header names are lower-case; repeated headers are joined with `, `. */
export interface ScriptHttpResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as UTF-8 text. */
  body: string;
}

/** Why an outbound call failed, as counted in the metrics. */
export type OutboundFailureKind =
  | 'refused' // not on the allow-list, or resolved to a refused address
  | 'timeout' // connect or total timeout
  | 'too_large' // response larger than the cap
  | 'connect_error' // DNS failure, connection refused or reset, TLS failure
  | 'redirect_refused' // a redirect to a place the policy refuses, or too many hops
  | 'too_many_requests' // past the per-execution request cap
  | 'concurrency' // the IdP's concurrent-call limit stayed full until the deadline
  | 'bad_request'; // a malformed request (method, header, body, property reference)

/** A failed call; `message` is script-facing: it names the origin at most, never a header or property value. */
export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

/** Installation-wide outbound settings (config `engine.http`, minus the allow-lists). */
export interface OutboundLimits {
  /** Connect timeout (default 2500 ms, as the reference product). */
  connect_timeout_ms: number;
  /** Response body cap (default 1 MiB). */
  max_response_bytes: number;
  /** Concurrent calls per IdP on this node (default 10). */
  max_concurrent_per_idp: number;
  /** Follow redirects (each hop checked again) or hand 3xx answers to the script (default). */
  follow_redirects: boolean;
  max_redirects: number;
}

/** One call as a dry run reports it (no headers, no body, no query string). */
export interface OutboundCallRecord {
  method: string;
  /** Origin and path only. */
  url: string;
  status: number | null;
  ms: number;
  error: OutboundFailureKind | null;
}

/** Everything one outbound call needs to know about its execution. */
export interface OutboundContext {
  idpId: string;
  policy: EgressPolicy;
  /** `performance.now()`-based deadline of the execution's wall time; no call outlives it. */
  deadline: number;
  /** Clear-text property values, for `{ $property }` references. */
  properties: ReadonlyMap<string, string>;
  /** Receives a record of every call (dry runs show them). */
  record?: (call: OutboundCallRecord) => void;
  /** Test hook: resolves names instead of DNS. */
  resolve?: Resolver;
}
