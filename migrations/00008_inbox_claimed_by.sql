-- Which starter replica made a webhook_inbox row's latest claim (issue 11):
-- several starters' forwarders share the inbox (FOR UPDATE SKIP LOCKED under
-- a lease), and a delivered row names the replica whose attempt delivered it,
-- so that ops (and `make chaos`) can see that the replicas shared the work
-- and that no row was signalled under two leases at once. A replica name is
-- a host and a port, never personal data. NULL: claimed before this column,
-- or by a claimer that gives no name.

-- +goose Up
ALTER TABLE webhook_inbox ADD COLUMN claimed_by text;

-- +goose Down
ALTER TABLE webhook_inbox DROP COLUMN claimed_by;
