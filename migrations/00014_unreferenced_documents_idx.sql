-- Retention of documents no application references (issue 13): the daily
-- unreferenced_documents sweep deletes documents uploaded without an
-- applicant ref and never bound by a create, after
-- RETENTION_UNREFERENCED_DOCUMENTS_DAYS (internal/retention). This index
-- finds those loose documents by age; it stays small, since a loose
-- document is bound by its create within minutes or deleted within days.
-- Documents with an applicant ref that has no application are found
-- through documents_linked_created_idx (00009) and the applications'
-- primary key.

-- +goose Up
CREATE INDEX documents_loose_created_idx ON documents (created_at) WHERE applicant_ref IS NULL;

-- +goose Down
DROP INDEX documents_loose_created_idx;
