package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ClaimActionKey records that an Idempotency-Key was used on route (e.g.
// "bank-card") of a workflow's loan for the request whose canonical hash is
// requestHash, or finds the request it was used for before. same is true
// for a first use and for a repeat of the same request; false when the key
// was used for another request (the API answers 409).
//
// The hash is stored sealed, bound to its row: a SHA-256 of a bank card
// (a bank code and ten or so digits) is easy to reverse by trying every
// number, so it is personal data like the card itself.
func (s *Store) ClaimActionKey(ctx context.Context, workflowID, route, key string, requestHash []byte) (same bool, err error) {
	if workflowID == "" || route == "" || key == "" || len(requestHash) == 0 {
		return false, errors.New("store: claim action key: workflow ID, route, key and hash are required")
	}
	if s.sealer == nil {
		return false, errors.New("store: claim action key: no sealer")
	}
	aad := actionKeyAAD(workflowID, route, key)
	sealed, err := s.sealer.Seal(requestHash, aad)
	if err != nil {
		return false, fmt.Errorf("store: claim action key: seal: %w", err)
	}
	// Insert, or read the row a concurrent or earlier claim wrote. A
	// conflicting INSERT … DO NOTHING returns nothing, hence the second
	// statement; under a race both claims see the winner's row.
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO action_keys (workflow_id, route, idem_key, request_hash_sealed)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, workflowID, route, key, sealed)
	if err != nil {
		return false, fmt.Errorf("store: claim action key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var stored []byte
	err = s.pool.QueryRow(ctx, `
		SELECT request_hash_sealed FROM action_keys WHERE workflow_id = $1 AND route = $2 AND idem_key = $3`,
		workflowID, route, key).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, errors.New("store: claim action key: the key vanished")
	}
	if err != nil {
		return false, fmt.Errorf("store: claim action key: %w", err)
	}
	first, err := s.sealer.Open(stored, aad)
	if err != nil {
		return false, errors.New("store: claim action key: the stored hash does not open (key ring?)")
	}
	return subtle.ConstantTimeCompare(first, requestHash) == 1, nil
}

// actionKeyAAD binds a sealed hash to its row. Lengths keep the parts apart
// ("a"+"bc" differs from "ab"+"c").
func actionKeyAAD(workflowID, route, key string) []byte {
	return fmt.Appendf(nil, "action_keys:%d:%s:%d:%s:%d:%s", len(workflowID), workflowID, len(route), route, len(key), key)
}

// ReleaseActionKey forgets a key claimed for requestHash, when nothing was
// recorded under it (the workflow's validator refused the request, or there
// is no such loan): the borrower may then send a corrected request with the
// same key. A key claimed for another request is left alone.
func (s *Store) ReleaseActionKey(ctx context.Context, workflowID, route, key string, requestHash []byte) error {
	if s.sealer == nil {
		return errors.New("store: release action key: no sealer")
	}
	var stored []byte
	err := s.pool.QueryRow(ctx, `
		SELECT request_hash_sealed FROM action_keys WHERE workflow_id = $1 AND route = $2 AND idem_key = $3`,
		workflowID, route, key).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: release action key: %w", err)
	}
	first, err := s.sealer.Open(stored, actionKeyAAD(workflowID, route, key))
	if err != nil || subtle.ConstantTimeCompare(first, requestHash) != 1 {
		return nil
	}
	// The exact sealed bytes: a row replaced meanwhile is not ours.
	if _, err := s.pool.Exec(ctx, `
		DELETE FROM action_keys WHERE workflow_id = $1 AND route = $2 AND idem_key = $3 AND request_hash_sealed = $4`,
		workflowID, route, key, stored); err != nil {
		return fmt.Errorf("store: release action key: %w", err)
	}
	return nil
}
