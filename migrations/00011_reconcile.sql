-- Reconciliation (issue 13): a daily sweep (internal/reconcile) compares
-- every active loan's workflow in Temporal, its read-model row and AWDA's
-- loan/info, and records what disagrees here, one row per run, loan and
-- kind, with what it did about it. `starter reconcile report` prints the
-- latest run. No personal data: applicant_ref is the lending backend's
-- opaque ID, the values are stages, statuses and AWDA's opaque IDs.
--
-- inbox_redeliveries audits `starter inbox redeliver`: who put which
-- orphan (or rejected) webhook_inbox row back to pending, and why. It keeps
-- no foreign key to webhook_inbox: the audit outlives the row's retention.

-- +goose Up
CREATE TABLE reconcile_runs (
    run_id      text        PRIMARY KEY, -- the run's workflow ID
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    checked     bigint      NOT NULL DEFAULT 0,
    -- The last applicant_ref a finished batch checked (keyset cursor).
    cursor      text        NOT NULL DEFAULT ''
);

CREATE INDEX reconcile_runs_started_idx ON reconcile_runs (started_at DESC);

CREATE TABLE reconcile_mismatches (
    id               bigserial   PRIMARY KEY,
    run_id           text        NOT NULL REFERENCES reconcile_runs ON DELETE CASCADE,
    applicant_ref    text        NOT NULL,
    workflow_id      text        NOT NULL,
    kind             text        NOT NULL,
    temporal_value   text        NOT NULL DEFAULT '',
    read_model_value text        NOT NULL DEFAULT '',
    awda_value       text        NOT NULL DEFAULT '',
    action           text        NOT NULL CHECK (action IN ('repaired', 'parked', 'none')),
    reason           text        NOT NULL DEFAULT '',
    detected_at      timestamptz NOT NULL,
    -- Set when a later run no longer finds this loan with this kind.
    resolved_at      timestamptz,
    -- A batch retried after a crash records each mismatch once.
    UNIQUE (run_id, applicant_ref, kind)
);

CREATE INDEX reconcile_mismatches_open_idx ON reconcile_mismatches (applicant_ref, kind) WHERE resolved_at IS NULL;

CREATE TABLE inbox_redeliveries (
    id          bigserial   PRIMARY KEY,
    inbox_id    bigint      NOT NULL,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    from_status text        NOT NULL,
    attempts    integer     NOT NULL,
    last_error  text        NOT NULL DEFAULT '',
    operator    text        NOT NULL,
    reason      text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbox_redeliveries_inbox_idx ON inbox_redeliveries (inbox_id);

-- +goose Down
DROP TABLE inbox_redeliveries;
DROP TABLE reconcile_mismatches;
DROP TABLE reconcile_runs;
