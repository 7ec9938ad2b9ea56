/**
 * PostgreSQL schema migrations; entry i is version i + 1 in `schema_migrations`. Never
 * edit a shipped entry: add one.
 *
 * Version 1 is the equivalent of every SQLite migration for configuration, tokens and
 * signing keys (the CACHE and registration transactions live in Redis). Times are epoch
 * milliseconds (BIGINT); lists and limits are JSONB; text that must come back byte for
 * byte (a token's user details, JWKs, script sources) is TEXT. Keys that lists page by
 * are `COLLATE "C"`, so their order is byte order, as in SQLite, and their index serves it.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE api_clients (
    client_id   TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT,
    secret_hash TEXT NOT NULL,
    scopes      JSONB NOT NULL,
    updated_at  BIGINT NOT NULL
  );
  CREATE TABLE applications (
    client_id                TEXT COLLATE "C" PRIMARY KEY,
    name                     TEXT,
    secret_hash              TEXT NOT NULL,
    identity_providers       JSONB NOT NULL,
    scopes                   JSONB NOT NULL,
    default_scopes           JSONB NOT NULL,
    access_token_ttl_seconds INTEGER NOT NULL,
    refresh_tokens           BOOLEAN NOT NULL,
    updated_at               BIGINT NOT NULL
  );
  CREATE TABLE identity_providers (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT,
    flow       TEXT NOT NULL CHECK (flow IN ('one_step', 'two_step')),
    enabled    BOOLEAN NOT NULL,
    limits     JSONB NOT NULL,
    http       JSONB,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE script_versions (
    idp_id     TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    source     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, kind, version)
  );
  CREATE TABLE active_scripts (
    idp_id  TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (idp_id, kind),
    FOREIGN KEY (idp_id, kind, version) REFERENCES script_versions (idp_id, kind, version) ON DELETE CASCADE
  );
  CREATE TABLE properties (
    id         TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    sensitive  BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE tokens (
    hash         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    family_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    idp_id       TEXT NOT NULL,
    sub          TEXT NOT NULL,
    scopes       JSONB NOT NULL,
    amr          JSONB NOT NULL,
    user_details TEXT NOT NULL,
    issued_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'rotated', 'revoked'))
  );
  CREATE INDEX tokens_family ON tokens (family_id);
  CREATE INDEX tokens_expiry ON tokens (expires_at);
  CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL,
    private_jwk_sealed TEXT NOT NULL,
    public_jwk         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    active             BOOLEAN NOT NULL,
    added              BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;
  `,
  // Version 2: stored configuration-change audit events (views as TEXT, byte for byte) and
  // console sessions (only a hash of each session id).
  `
  CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    client_id   TEXT COLLATE "C",
    resource    TEXT NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
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
    created_at         BIGINT NOT NULL,
    idle_expires_at    BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL
  );
  CREATE INDEX console_sessions_idle_expiry ON console_sessions (idle_expires_at);
  CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
  `,
  // Version 3: an IdP's declarative rate limits (`identity_providers[].rate_limits`).
  `
  ALTER TABLE identity_providers ADD COLUMN rate_limits JSONB;
  `,
  // Stored script test cases (issue 14): one JSON list per IdP and script kind, kept as
  // TEXT so it comes back byte for byte.
  `
  CREATE TABLE script_tests (
    idp_id     TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    cases      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Script canaries (issue 14): the latest canary per IdP and script kind, running or ended,
  // with each version's counts (nodes add theirs, so the totals are shared).
  `
  CREATE TABLE script_rollouts (
    idp_id         TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    from_version   INTEGER NOT NULL,
    to_version     INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('running', 'promoted', 'rolled_back', 'aborted')),
    percent        INTEGER NOT NULL,
    margin_points  DOUBLE PRECISION NOT NULL,
    min_executions INTEGER NOT NULL,
    promote_after  INTEGER,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    reason         TEXT,
    from_executions BIGINT NOT NULL DEFAULT 0,
    from_failures   BIGINT NOT NULL DEFAULT 0,
    from_wall_ms    DOUBLE PRECISION NOT NULL DEFAULT 0,
    to_executions   BIGINT NOT NULL DEFAULT 0,
    to_failures     BIGINT NOT NULL DEFAULT 0,
    to_wall_ms      DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Script shadows (issue 14): a stored version run beside the active one on copies of live inputs.
  `
  CREATE TABLE script_shadows (
    idp_id     TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    percent    INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (idp_id, kind)
  );
  `,
  // Recorded script executions for replay (issue 15): the IdP's policy, and the recordings
  // (the execution kept as TEXT so it comes back byte for byte).
  `
  ALTER TABLE identity_providers ADD COLUMN record JSONB;
  CREATE TABLE script_recordings (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idp_id     TEXT COLLATE "C" NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('init', 'complete', 'backchannel')),
    version    INTEGER NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'error')),
    at         BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    execution  TEXT NOT NULL
  );
  CREATE INDEX script_recordings_idp ON script_recordings (idp_id, id);
  CREATE INDEX script_recordings_idp_at ON script_recordings (idp_id, at);
  `,
];
