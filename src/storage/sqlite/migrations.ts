/** Schema migrations; entry i brings `PRAGMA user_version` from i to i + 1. Never edit a shipped entry. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE api_clients (
    client_id   TEXT PRIMARY KEY,
    name        TEXT,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  CREATE TABLE identity_providers (
    id         TEXT PRIMARY KEY,
    name       TEXT,
    flow       TEXT NOT NULL CHECK (flow IN ('one_step', 'two_step')),
    enabled    INTEGER NOT NULL,
    limits     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE script_versions (
    idp_id     TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    source     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (idp_id, kind, version)
  );
  CREATE TABLE active_scripts (
    idp_id  TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (idp_id, kind),
    FOREIGN KEY (idp_id, kind, version) REFERENCES script_versions (idp_id, kind, version)
  );
  CREATE TABLE properties (
    id         TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    sensitive  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE cache_entries (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX cache_entries_expiry ON cache_entries (expires_at);
  `,
  `
  CREATE TABLE applications (
    client_id                TEXT PRIMARY KEY,
    name                     TEXT,
    secret_hash              TEXT NOT NULL,
    identity_providers       TEXT NOT NULL,
    scopes                   TEXT NOT NULL,
    default_scopes           TEXT NOT NULL,
    access_token_ttl_seconds INTEGER NOT NULL,
    refresh_tokens           INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
  );
  `,
  `
  CREATE TABLE registration_transactions (
    id                TEXT PRIMARY KEY,
    idp_id            TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    registration_data TEXT,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX registration_transactions_expiry ON registration_transactions (expires_at);
  CREATE TABLE tokens (
    hash         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    family_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    idp_id       TEXT NOT NULL,
    sub          TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    amr          TEXT NOT NULL,
    user_details TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'rotated', 'revoked'))
  ) WITHOUT ROWID;
  CREATE INDEX tokens_family ON tokens (family_id);
  CREATE INDEX tokens_expiry ON tokens (expires_at);
  `,
  `
  CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL,
    private_jwk_sealed TEXT NOT NULL,
    public_jwk         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    active             INTEGER NOT NULL CHECK (active IN (0, 1))
  );
  CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active = 1;
  `,
  `
  ALTER TABLE identity_providers ADD COLUMN http TEXT;
  `,
  `
  ALTER TABLE registration_transactions ADD COLUMN claim_token TEXT;
  ALTER TABLE registration_transactions ADD COLUMN claimed_until INTEGER;
  `,
  `
  CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    client_id   TEXT,
    resource    TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL
  );
  CREATE INDEX audit_events_at ON audit_events (at);
  CREATE INDEX audit_events_resource ON audit_events (resource, resource_id, id);
  CREATE INDEX audit_events_client ON audit_events (client_id, id);
  CREATE TABLE console_sessions (
    id_hash            TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    secret_fingerprint TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    idle_expires_at    INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX console_sessions_idle_expiry ON console_sessions (idle_expires_at);
  CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
  `,
  `
  CREATE TABLE rate_counters (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX rate_counters_expiry ON rate_counters (expires_at);
  ALTER TABLE identity_providers ADD COLUMN rate_limits TEXT;
  `,
  // Stored script test cases (issue 14): one JSON list per IdP and script kind.
  `
  CREATE TABLE script_tests (
    idp_id     TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    cases      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Script canaries (issue 14): the latest canary per IdP and script kind, running or ended,
  // with each version's counts (nodes add theirs, so the totals are shared).
  `
  CREATE TABLE script_rollouts (
    idp_id         TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    from_version   INTEGER NOT NULL,
    to_version     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('running', 'promoted', 'rolled_back', 'aborted')),
    percent        INTEGER NOT NULL,
    margin_points  REAL NOT NULL,
    min_executions INTEGER NOT NULL,
    promote_after  INTEGER,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    reason         TEXT,
    from_executions INTEGER NOT NULL DEFAULT 0,
    from_failures   INTEGER NOT NULL DEFAULT 0,
    from_wall_ms    REAL NOT NULL DEFAULT 0,
    to_executions   INTEGER NOT NULL DEFAULT 0,
    to_failures     INTEGER NOT NULL DEFAULT 0,
    to_wall_ms      REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Script shadows (issue 14): a stored version run beside the active one on copies of live inputs.
  `
  CREATE TABLE script_shadows (
    idp_id     TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    percent    INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Recorded script executions for replay (issue 15): the IdP's policy, and the recordings.
  `
  ALTER TABLE identity_providers ADD COLUMN record TEXT;
  CREATE TABLE script_recordings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    idp_id     TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
    at         INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    execution  TEXT NOT NULL
  );
  CREATE INDEX script_recordings_idp ON script_recordings (idp_id, id);
  CREATE INDEX script_recordings_idp_at ON script_recordings (idp_id, at);
  `,
];
