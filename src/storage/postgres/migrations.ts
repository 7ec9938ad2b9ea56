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
];
