/** The admin API's views, as the console reads them (see docs/admin-api.md). */

export type ScriptKind = 'init' | 'complete' | 'backchannel';
export const SCRIPT_KINDS: ScriptKind[] = ['init', 'complete', 'backchannel'];

export interface Limits {
  cpu_time_ms?: number;
  wall_time_ms?: number;
  memory_mb?: number;
  max_processes?: number;
  max_executions?: number;
}

export interface Egress {
  allow?: string[];
  allow_addresses?: string[];
}

export interface ScriptVersionRef {
  version: number;
  sha256: string;
  filename: string;
}

export interface IdentityProvider {
  id: string;
  name: string | null;
  flow: 'one_step' | 'two_step';
  enabled: boolean;
  limits: Limits;
  http?: Egress;
  scripts: Partial<Record<ScriptKind, ScriptVersionRef>>;
}

export interface ActiveScript extends ScriptVersionRef {
  kind: ScriptKind;
  source: string;
}

export interface VersionInfo extends ScriptVersionRef {
  created_at: string;
  active: boolean;
}

export interface Version extends VersionInfo {
  source: string;
}

export interface DryRunReport {
  status: number | null;
  response_payload: string | null;
  registration_data: string | null;
  user: unknown;
  logs: Array<{ level: string; message: string }>;
  logs_dropped: number;
  cpu_ms: number;
  wall_ms: number;
  outbound: Array<{ method: string; url: string; status: number | null; ms: number; error: string | null }>;
  cache: Record<string, unknown>;
  error?: { kind: string; message: string; line: number | null };
}

export interface Property {
  id: string;
  value: string;
  sensitive: boolean;
}

export interface ApiClient {
  client_id: string;
  name: string | null;
  scopes: string[];
}

export interface Application {
  client_id: string;
  name: string | null;
  identity_providers: string[];
  scopes: string[];
  default_scopes: string[];
  access_token_ttl_seconds: number;
  refresh_tokens: boolean;
}

export interface AuditEvent {
  id: number;
  at: string;
  client_id: string | null;
  resource: string;
  resource_id: string;
  action: string;
  before: unknown;
  after: unknown;
}
