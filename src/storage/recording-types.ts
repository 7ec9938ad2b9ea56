/**
 * The types of recorded script executions (issue 15: recording and replay). Re-exported
 * by `types.ts`, where every storage interface is found.
 */
import type { ScriptKind } from '../config/schema.js';

/** How a recorded execution ended: a success status (2000–2999), another status, or no result at all. */
export const RECORDING_OUTCOMES = ['success', 'failure', 'error'] as const;
export type RecordingOutcome = (typeof RECORDING_OUTCOMES)[number];

/**
 * What a recorded execution saw and did, sensitive property values already masked.
 * The caller's credentials are never part of it (scripts never see them).
 */
export interface RecordedExecution {
  /** The four `execute` arguments: data, user identifier, registration data, hook context params. */
  args: [string | null, string | null, string | null, Record<string, string[]> | null];
  /** What the script returned; null when it failed (then `error` says why). */
  result: {
    status: number;
    response_payload: string | null;
    registration_data: string | null;
    user: unknown;
  } | null;
  error: { kind: string; message: string; line: number | null } | null;
  logs: Array<{ level: string; message: string }>;
  cpu_ms: number;
  wall_ms: number;
  /**
   * What the execution read: CACHE keys it fetched with their values (JSON text, or null)
   * and property ids with their values; absent in recordings made before reads were kept.
   */
  reads?: {
    cache: Record<string, string | null>;
    properties: Record<string, string | null>;
    /** Its outbound calls (method, URL) and what each got, in order. */
    http?: Array<{
      method: string;
      url: string;
      result:
        | { ok: true; response: { status: number; headers: Record<string, string>; body: string } }
        | { ok: false; message: string };
    }>;
  };
}

/** A recording to store (the store gives it its id). */
export interface NewRecording {
  idp_id: string;
  kind: ScriptKind;
  /** The script version that ran. */
  version: number;
  outcome: RecordingOutcome;
  /** Epoch milliseconds. */
  at: number;
  /** The request the execution served (for finding its log lines). */
  request_id: string;
  execution: RecordedExecution;
}

/** A stored recording. */
export interface Recording extends NewRecording {
  /** Grows with every recording the store appends; never reused, even after a purge. */
  id: number;
}

/** Which recordings to list, and which page of them. */
export interface RecordingQuery {
  idpId: string;
  kind?: ScriptKind;
  outcome?: RecordingOutcome;
  version?: number;
  /** Epoch milliseconds: only recordings made at or after it. */
  since?: number;
  limit: number;
  /** The `next` of the previous page: only recordings with a smaller id are listed. */
  after?: number;
}

/** What a purge of one IdP's recordings keeps: those from `since` on, and of those at most the newest `keep`. */
export interface RecordingRetention {
  idpId: string;
  since: number;
  keep: number;
}

/**
 * Recorded executions of IdP scripts, newest first. Append-only apart from `purge` (and
 * an IdP's removal, which removes its recordings); every method is atomic on its own.
 */
export interface RecordingStore {
  /** Stores a recording; resolves to its id. Rejects when the IdP does not exist. */
  append(recording: NewRecording): Promise<number>;
  /**
   * One IdP's recordings matching every filter given, newest (highest id) first, at most
   * `limit`; `next` is the id to pass as `after` (as text), null on the last page.
   */
  list(query: RecordingQuery): Promise<{ items: Recording[]; next: string | null }>;
  /** One recording of an IdP; undefined when there is none with this id for this IdP. */
  get(idpId: string, id: number): Promise<Recording | undefined>;
  /** Removes an IdP's recordings older than `since` and all but its newest `keep`; resolves to how many. */
  purge(retention: RecordingRetention): Promise<number>;
}
