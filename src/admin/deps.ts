import type { EngineConfig } from '../config/schema.js';
import type { ConsoleSessions } from '../console/sessions.js';
import type { ScriptEngine } from '../engine/engine.js';
import type { ApiClientAuthenticator } from '../http/authenticate.js';
import type { RolloutMonitor } from '../rollout/monitor.js';
import type { ShadowRunner } from '../rollout/shadow.js';
import type {
  AuditEventStore,
  ConfigStore,
  RecordingStore,
  RolloutStore,
  ScriptTestStore,
} from '../storage/types.js';

/** What the admin routes work on. */
export interface AdminDeps {
  store: ConfigStore;
  engine: ScriptEngine;
  engineConfig: EngineConfig;
  authenticator: ApiClientAuthenticator;
  /** Seals sensitive property values. */
  secretKey: Buffer;
  /** scrypt cost for new client secrets. */
  scryptLogN: number;
  /** Each script's stored test cases (the activation gate). */
  scriptTests: ScriptTestStore;
  /** Script canaries as stored. */
  rolloutStore: RolloutStore;
  /** This node's canary counts (and the end of a canary by hand, which it must forget). */
  rollouts: RolloutMonitor;
  /** This node's shadow comparisons. */
  shadows: ShadowRunner;
  /** Where configuration changes are stored as audit events. */
  auditEvents: AuditEventStore;
  /** Recorded script executions (listed, read, replayed). */
  recordings: RecordingStore;
  /** Console sessions, whose cookie authenticates like Basic credentials; absent when the console is off. */
  consoleSessions?: ConsoleSessions;
}

/** Where the admin API lives. */
export const ADMIN_PREFIX = '/api/v1/configuration';

/** Where admin routes outside the configuration live (audit events). */
export const API_PREFIX = '/api/v1';

/** The `Location` of a created resource. */
export const locationOf = (...segments: string[]) =>
  `${ADMIN_PREFIX}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
