-- The starter's business gauges (awdaflow_loans_open, awdaflow_loans_stuck)
-- count the open loans by stage at every scrape: this partial index keeps
-- that an index-only scan over the open loans, however many closed ones the
-- table holds.

-- +goose Up
CREATE INDEX applications_open_stage_idx ON applications (stage, stuck) WHERE NOT terminal;

-- +goose Down
DROP INDEX applications_open_stage_idx;
