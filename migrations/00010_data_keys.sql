-- Per-applicant data keys and erasure (issue 13).
--   * data_keys: each applicant's AES-256 data key, sealed by the key ring
--     (AAD binds it to its id and applicant_ref). Its id ("dk_" + random
--     hex, not derived from the applicant) is what payload metadata and
--     sealed blobs name. An erasure nulls sealed and sets erased_at: the row
--     stays as a tombstone, so the applicant never gets a new key and
--     readers can say when their data was erased. ring_key_id says which
--     ring key sealed it, for `starter keys reseal` after a ring rotation.
--   * erasures: the audit of every erasure (who, when, why, forced, what
--     was done), one per applicant; a repeated request answers it.
-- No personal data in clear: applicant_ref is the lending backend's opaque
-- ID, operator and reason are the operations staff's.

-- +goose Up
CREATE TABLE data_keys (
    id            text        PRIMARY KEY,
    applicant_ref text        NOT NULL UNIQUE,
    ring_key_id   text        NOT NULL,
    sealed        bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz,
    CHECK ((sealed IS NULL) = (erased_at IS NOT NULL))
);

CREATE INDEX data_keys_reseal_idx ON data_keys (ring_key_id, id) WHERE sealed IS NOT NULL;

CREATE TABLE erasures (
    applicant_ref         text        PRIMARY KEY,
    workflow_id           text        NOT NULL,
    data_key_id           text        NOT NULL,
    operator              text        NOT NULL,
    reason                text        NOT NULL,
    forced                boolean     NOT NULL,
    workflow_terminated   boolean     NOT NULL,
    documents_deleted     integer     NOT NULL,
    inbox_rows_erased     integer     NOT NULL,
    action_keys_deleted   integer     NOT NULL,
    request_id            text        NOT NULL DEFAULT '',
    erased_at             timestamptz NOT NULL
);

-- +goose Down
DROP TABLE erasures;
DROP TABLE data_keys;
