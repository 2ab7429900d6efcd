package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/activities"
)

// DocumentInput is one uploaded document. FileName may carry personal data
// (people name files after themselves) and is sealed like the bytes.
type DocumentInput struct {
	ApplicantRef string // optional: uploads may come before the application
	ImageType    string // the AWDA image type the document is meant for, if known
	ContentType  string
	FileName     string
	Bytes        []byte
}

// PutDocument seals and stores a document and returns its new ID (a UUID).
// The bytes are sealed with the ID as AAD, the file name with ID+"/file_name".
func (s *Store) PutDocument(ctx context.Context, in DocumentInput) (string, error) {
	if len(in.Bytes) == 0 {
		return "", errors.New("store: put document: empty document")
	}
	if in.ContentType == "" {
		return "", errors.New("store: put document: content type is required")
	}
	id := uuid.NewString()
	// An applicant's document is sealed under their data key, so erasing
	// them makes it unreadable even in a backup.
	seal := s.sealer.Seal
	if in.ApplicantRef != "" && s.keys != nil {
		seal = func(pt, aad []byte) ([]byte, error) { return s.keys.SealFor(ctx, in.ApplicantRef, pt, aad) }
	}
	sealed, err := seal(in.Bytes, []byte(id))
	if err != nil {
		return "", fmt.Errorf("store: put document: seal: %w", err)
	}
	var sealedName []byte
	if in.FileName != "" {
		if sealedName, err = seal([]byte(in.FileName), fileNameAAD(id)); err != nil {
			return "", fmt.Errorf("store: put document: seal: %w", err)
		}
	}
	sum := sha256.Sum256(in.Bytes)
	_, err = s.pool.Exec(ctx, `
		INSERT INTO documents (id, applicant_ref, image_type, content_type, file_name_sealed, size, sha256, sealed)
		VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8)`,
		id, in.ApplicantRef, in.ImageType, in.ContentType, sealedName, len(in.Bytes), hex.EncodeToString(sum[:]), sealed)
	if err != nil {
		return "", fmt.Errorf("store: put document: %w", err)
	}
	return id, nil
}

// GetDocument returns a document, opened. It returns
// activities.ErrDocumentNotFound for an unknown (or malformed) ID.
func (s *Store) GetDocument(ctx context.Context, id string) (*activities.Document, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, activities.ErrDocumentNotFound
	}
	var (
		contentType, sum   string
		sealedName, sealed []byte
	)
	err := s.pool.QueryRow(ctx, `
		SELECT content_type, file_name_sealed, sha256, sealed FROM documents WHERE id = $1`, id).
		Scan(&contentType, &sealedName, &sum, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, activities.ErrDocumentNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get document %s: %w", id, err)
	}
	b, err := s.sealer.Open(sealed, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("store: get document %s: open: %w", id, err)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("store: get document %s: checksum mismatch", id)
	}
	doc := &activities.Document{ID: id, ContentType: contentType, Bytes: b}
	if sealedName != nil {
		name, err := s.sealer.Open(sealedName, fileNameAAD(id))
		if err != nil {
			return nil, fmt.Errorf("store: get document %s: open file name: %w", id, err)
		}
		doc.FileName = string(name)
	}
	return doc, nil
}

func fileNameAAD(id string) []byte { return []byte(id + "/file_name") }
