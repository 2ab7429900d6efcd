-- The "why" of a loan that outlives Temporal's retention (issue 10):
--   * loan_trail: every transition of a loan (stage, AWDA status,
--     authorization, stuck, resumed by an operator), written idempotently by
--     the workflow's projection activity, keyed by the workflow's own
--     transition number. The workflow keeps only the last few; this table
--     keeps them all.
--   * applications gains how a loan ended (reason, operator) and where a
--     stuck loan is parked (stuck_step, stuck_since), so the read model says
--     what the live status query says, in the same words.
--   * action_keys: the Idempotency-Key of a bank card or signature
--     submission, per application and route, with the request it was first
--     used for (a sealed SHA-256 of the canonical body: a card number has too
--     few digits for a bare hash to hide it), so the same key with another
--     body is refused (409) instead of answered with the first verdict.
-- No personal data in clear: transitions carry stages, AWDA statuses, AWDA
-- event IDs, operators' names and reasons; never the borrower's data.

-- +goose Up
CREATE TABLE loan_trail (
    workflow_id text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    from_state  text        NOT NULL DEFAULT '',
    to_state    text        NOT NULL DEFAULT '',
    event_id    text        NOT NULL DEFAULT '',
    note        text        NOT NULL DEFAULT '',
    operator    text        NOT NULL DEFAULT '',
    written_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, seq)
);

ALTER TABLE applications
    ADD COLUMN stuck_step  text NOT NULL DEFAULT '',
    ADD COLUMN stuck_since timestamptz,
    ADD COLUMN reason      text NOT NULL DEFAULT '',
    ADD COLUMN operator    text NOT NULL DEFAULT '';

CREATE TABLE action_keys (
    workflow_id         text        NOT NULL,
    route               text        NOT NULL,
    idem_key            text        NOT NULL,
    request_hash_sealed bytea       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, route, idem_key)
);

-- +goose Down
DROP TABLE action_keys;
ALTER TABLE applications
    DROP COLUMN operator,
    DROP COLUMN reason,
    DROP COLUMN stuck_since,
    DROP COLUMN stuck_step;
DROP TABLE loan_trail;
