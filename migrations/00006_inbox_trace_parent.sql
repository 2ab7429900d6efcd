-- The trace of a notification's receipt (issue 12): the W3C traceparent of
-- the webhook request's span ("00-<trace id>-<span id>-<flags>"), stored with
-- the row so that the forwarder's delivery span links to it across the
-- asynchronous hop. IDs and flags only, no personal data; NULL when tracing
-- is off.

-- +goose Up
ALTER TABLE webhook_inbox ADD COLUMN trace_parent text;

-- +goose Down
ALTER TABLE webhook_inbox DROP COLUMN trace_parent;
