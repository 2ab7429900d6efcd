-- Retention (issue 13): the daily sweeps delete, in batches, documents of
-- loans closed long ago, delivered inbox rows and old awda_calls rows
-- (internal/retention). These indexes let each batch find its rows without
-- scanning the table: a document is looked up by age and joined to its
-- application by primary key; a delivered inbox row by when it was
-- delivered. awda_calls already has awda_calls_called_at_idx.
--
-- awda_calls is not partitioned by month: converting it means copying the
-- table and keeping a job that creates partitions ahead, for a table of
-- small rows (a dozen per loan) whose batched deletes by called_at are
-- cheap; dropping a month's partition would also ignore
-- RETENTION_AWDA_CALLS_DAYS below a month's granularity.

-- +goose Up
CREATE INDEX documents_linked_created_idx ON documents (created_at) WHERE applicant_ref IS NOT NULL;
CREATE INDEX webhook_inbox_delivered_idx ON webhook_inbox (delivered_at) WHERE status = 'delivered';

-- +goose Down
DROP INDEX webhook_inbox_delivered_idx;
DROP INDEX documents_linked_created_idx;
