-- Every AWDA notification we acknowledged, written before the answer. The
-- payload is sealed; loan_no and user_id are AWDA's opaque IDs, kept in clear
-- for routing and reconciliation.

-- +goose Up
CREATE TABLE webhook_inbox (
    id              bigserial   PRIMARY KEY,
    source          text        NOT NULL CHECK (source IN ('loan_status', 'authorization')),
    event_id        text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    payload_sealed  bytea       NOT NULL,
    loan_no         text,
    user_id         text,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'orphan', 'rejected')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    -- For a pending row, the time after which a forwarder may (re)try it; a
    -- claim moves it forward, which makes it a lease.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    workflow_id     text,
    UNIQUE (source, event_id)
);

CREATE INDEX webhook_inbox_pending_idx ON webhook_inbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_inbox_loan_no_idx ON webhook_inbox (loan_no) WHERE loan_no IS NOT NULL;

-- +goose Down
DROP TABLE webhook_inbox;
