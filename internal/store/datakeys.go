package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// Store implements codec.KeySource: the applicants' data keys live in the
// data_keys table (migration 00010).
var _ codec.KeySource = (*Store)(nil)

// UseDataKeys makes the store seal an applicant's documents under that
// applicant's data key and open whatever it sealed with keys, which open
// ring-sealed rows too. The store is keys' KeySource; call it once, before
// the store is used.
func (s *Store) UseDataKeys(keys *codec.DataKeys) {
	s.keys = keys
	s.sealer = keys
}

// DataKeys is what UseDataKeys set (nil: everything under the ring).
func (s *Store) DataKeys() *codec.DataKeys { return s.keys }

const dataKeyColumns = `id, applicant_ref, ring_key_id, sealed, created_at, erased_at`

func scanDataKey(row pgx.Row) (*codec.DataKeyRecord, error) {
	var (
		r      codec.DataKeyRecord
		erased *time.Time
	)
	if err := row.Scan(&r.ID, &r.ApplicantRef, &r.RingKeyID, &r.Sealed, &r.CreatedAt, &erased); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, codec.ErrNoDataKey
		}
		return nil, err
	}
	if erased != nil {
		r.ErasedAt = *erased
	}
	return &r, nil
}

// DataKeyByRef implements codec.KeySource.
func (s *Store) DataKeyByRef(ctx context.Context, ref string) (*codec.DataKeyRecord, error) {
	r, err := scanDataKey(s.pool.QueryRow(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE applicant_ref = $1`, ref))
	if err != nil && !errors.Is(err, codec.ErrNoDataKey) {
		return nil, fmt.Errorf("store: data key by applicant: %w", err)
	}
	return r, err
}

// DataKeyByID implements codec.KeySource.
func (s *Store) DataKeyByID(ctx context.Context, id string) (*codec.DataKeyRecord, error) {
	r, err := scanDataKey(s.pool.QueryRow(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE id = $1`, id))
	if err != nil && !errors.Is(err, codec.ErrNoDataKey) {
		return nil, fmt.Errorf("store: data key %s: %w", id, err)
	}
	return r, err
}

// InsertDataKey implements codec.KeySource: the first key stored for an
// applicant wins (the unique applicant_ref), and every racer gets it.
func (s *Store) InsertDataKey(ctx context.Context, rec codec.DataKeyRecord) (*codec.DataKeyRecord, error) {
	if rec.ID == "" || rec.ApplicantRef == "" || rec.Sealed == nil {
		return nil, errors.New("store: insert data key: id, applicant and sealed key are required")
	}
	r, err := scanDataKey(s.pool.QueryRow(ctx, `
		INSERT INTO data_keys (id, applicant_ref, ring_key_id, sealed, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (applicant_ref) DO NOTHING
		RETURNING `+dataKeyColumns, rec.ID, rec.ApplicantRef, rec.RingKeyID, rec.Sealed, s.now()))
	if errors.Is(err, codec.ErrNoDataKey) {
		// Another creator won; its row is committed (the insert waited for
		// it), and a new statement sees it.
		return s.DataKeyByRef(ctx, rec.ApplicantRef)
	}
	if err != nil {
		return nil, fmt.Errorf("store: insert data key: %w", err)
	}
	return r, nil
}

// ResealDataKeys re-seals, batch by batch, every live data key that is not
// sealed under the ring's primary key, with reseal (codec.DataKeys.Reseal).
// Each batch commits on its own, so a run that stops part-way is resumed by
// running it again. It returns how many keys it re-sealed.
func (s *Store) ResealDataKeys(ctx context.Context, primary string, batch int, reseal func(codec.DataKeyRecord) (codec.DataKeyRecord, error)) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	total := 0
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+dataKeyColumns+` FROM data_keys
			WHERE sealed IS NOT NULL AND ring_key_id <> $1 AND id > $2 ORDER BY id LIMIT $3`, primary, after, batch)
		if err != nil {
			return total, fmt.Errorf("store: reseal data keys: %w", err)
		}
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*codec.DataKeyRecord, error) { return scanDataKey(r) })
		if err != nil {
			return total, fmt.Errorf("store: reseal data keys: %w", err)
		}
		if len(recs) == 0 {
			return total, nil
		}
		b := &pgx.Batch{}
		for _, r := range recs {
			nr, err := reseal(*r)
			if err != nil {
				return total, err
			}
			// Only the row as read: an erasure in between wins.
			b.Queue(`UPDATE data_keys SET sealed = $2, ring_key_id = $3
				WHERE id = $1 AND ring_key_id = $4 AND sealed IS NOT NULL`, nr.ID, nr.Sealed, nr.RingKeyID, r.RingKeyID)
			after = r.ID
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return total, fmt.Errorf("store: reseal data keys: %w", err)
		}
		total += len(recs)
	}
}

// DataKeysByRingKey counts the live data keys per ring key that seals them
// (what `starter keys reseal` reports, and what says a ring key can go).
func (s *Store) DataKeysByRingKey(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT ring_key_id, count(*) FROM data_keys WHERE sealed IS NOT NULL GROUP BY ring_key_id`)
	if err != nil {
		return nil, fmt.Errorf("store: data keys by ring key: %w", err)
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// BindDocuments gives the documents of ids that belong to no applicant yet
// to ref, re-sealing them under ref's data key, so that erasing ref finds
// and deletes them. Documents of another applicant are left alone. It
// returns how many it bound. Without data keys it only sets applicant_ref.
func (s *Store) BindDocuments(ctx context.Context, ref string, ids []string) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, sealed, file_name_sealed FROM documents
		WHERE id = ANY($1::uuid[]) AND applicant_ref IS NULL`, ids)
	if err != nil {
		return 0, fmt.Errorf("store: bind documents: %w", err)
	}
	type doc struct {
		id           string
		sealed, name []byte
	}
	docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (doc, error) {
		var d doc
		return d, r.Scan(&d.id, &d.sealed, &d.name)
	})
	if err != nil {
		return 0, fmt.Errorf("store: bind documents: %w", err)
	}
	n := 0
	for _, d := range docs {
		if s.keys != nil {
			if d.sealed, err = s.reseal(ctx, ref, d.sealed, []byte(d.id)); err != nil {
				return n, fmt.Errorf("store: bind document %s: %w", d.id, err)
			}
			if d.name != nil {
				if d.name, err = s.reseal(ctx, ref, d.name, fileNameAAD(d.id)); err != nil {
					return n, fmt.Errorf("store: bind document %s: %w", d.id, err)
				}
			}
		}
		tag, err := s.pool.Exec(ctx, `UPDATE documents SET applicant_ref = $2, sealed = $3, file_name_sealed = $4
			WHERE id = $1 AND applicant_ref IS NULL`, d.id, ref, d.sealed, d.name)
		if err != nil {
			return n, fmt.Errorf("store: bind document %s: %w", d.id, err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

func (s *Store) reseal(ctx context.Context, ref string, sealed, aad []byte) ([]byte, error) {
	pt, err := s.sealer.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return s.keys.SealFor(ctx, ref, pt, aad)
}
