import type { EngineConfig } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import type { ApiClientAuthenticator } from '../http/authenticate.js';
import type { ConfigStore } from '../storage/types.js';

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
}

/** Where the admin API lives. */
export const ADMIN_PREFIX = '/api/v1/configuration';

/** The `Location` of a created resource. */
export const locationOf = (...segments: string[]) =>
  `${ADMIN_PREFIX}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
