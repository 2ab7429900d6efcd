-- Uploaded documents (ID card photos, selfies...). The image and the file name
-- are sealed with the key ring; the workflow input carries only the id.

-- +goose Up
CREATE TABLE documents (
    id               uuid        PRIMARY KEY,
    applicant_ref    text,
    image_type       text        NOT NULL DEFAULT '',
    content_type     text        NOT NULL,
    file_name_sealed bytea,
    size             integer     NOT NULL,
    sha256           text        NOT NULL, -- hex, of the plaintext, for dedupe and integrity
    sealed           bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX documents_applicant_ref_idx ON documents (applicant_ref) WHERE applicant_ref IS NOT NULL;

-- +goose Down
DROP TABLE documents;
