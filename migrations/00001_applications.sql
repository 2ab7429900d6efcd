-- The read model of loan applications, kept current by the workflow
-- (UpsertApplication, ordered by seq) and created by the starter API.
-- No personal data: applicant_ref is the lending backend's opaque ID, AWDA's
-- user and loan numbers are AWDA's opaque IDs.

-- +goose Up
CREATE TABLE applications (
    applicant_ref text        PRIMARY KEY,
    workflow_id   text        NOT NULL,
    seq           bigint      NOT NULL DEFAULT 0,
    stage         text        NOT NULL DEFAULT '',
    stuck         boolean     NOT NULL DEFAULT false,
    stuck_reason  text        NOT NULL DEFAULT '',
    awda_user_id  text,
    awda_loan_no  text,
    order_no      text,
    loan_status   text        NOT NULL DEFAULT '',
    amount        bigint      NOT NULL DEFAULT 0,
    tenor         integer     NOT NULL DEFAULT 0,
    tenor_unit    text        NOT NULL DEFAULT '',
    terminal      boolean     NOT NULL DEFAULT false,
    -- hex SHA-256 of the canonical create request, so the API can tell a
    -- retried create (same hash) from a conflicting one (409).
    request_hash  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Webhook routing: a loan-status notification names the loan.
CREATE UNIQUE INDEX applications_awda_loan_no_key ON applications (awda_loan_no) WHERE awda_loan_no IS NOT NULL;
-- An authorization notification names only the AWDA user.
CREATE INDEX applications_awda_user_id_idx ON applications (awda_user_id, created_at DESC) WHERE awda_user_id IS NOT NULL;
-- Keyset pagination, newest first, with and without filters.
CREATE INDEX applications_created_idx ON applications (created_at DESC, applicant_ref DESC);
CREATE INDEX applications_stage_idx ON applications (stage, created_at DESC, applicant_ref DESC);
CREATE INDEX applications_stuck_idx ON applications (created_at DESC, applicant_ref DESC) WHERE stuck;

-- +goose Down
DROP TABLE applications;
