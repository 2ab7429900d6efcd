-- The last successful retention sweep of each kind (internal/retention),
-- so that awdaflow_retention_last_success_timestamp_seconds survives a
-- restart of the whole fleet: every worker reports it from here at startup,
-- and the AwdaflowRetentionSweepLate alert can tell a sweep that has not
-- finished for days from a fleet that was merely restarted. Kinds, counts
-- and times only.

-- +goose Up
CREATE TABLE retention_sweeps (
    kind             text             PRIMARY KEY,
    last_success_at  timestamptz      NOT NULL,
    last_deleted     bigint           NOT NULL,
    last_duration_s  double precision NOT NULL
);

-- +goose Down
DROP TABLE retention_sweeps;
