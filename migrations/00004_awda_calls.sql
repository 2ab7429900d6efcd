-- One audit row per AWDA call attempt. No request or response bodies, so no
-- personal data.

-- +goose Up
CREATE TABLE awda_calls (
    id            bigserial   PRIMARY KEY,
    endpoint      text        NOT NULL,
    code          integer     NOT NULL,
    outcome       text        NOT NULL,
    http_status   integer     NOT NULL,
    latency_ms    double precision NOT NULL,
    nonce         text        NOT NULL,
    workflow_id   text,
    activity_type text,
    attempt       integer,
    called_at     timestamptz NOT NULL
);

CREATE INDEX awda_calls_called_at_idx ON awda_calls (called_at);
CREATE INDEX awda_calls_workflow_id_idx ON awda_calls (workflow_id, called_at) WHERE workflow_id IS NOT NULL;

-- +goose Down
DROP TABLE awda_calls;
