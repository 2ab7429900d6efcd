package store

import (
	"context"
	"fmt"
	"time"

	"github.com/awdaflow/awdaflow/activities"
)

// trail is a projection's trail as column arrays, for one INSERT … SELECT
// FROM unnest(…): one statement however many entries, ordered by Seq, each
// Seq once.
type trail struct {
	seq                                     []int64
	at                                      []time.Time
	kind, from, to, eventID, note, operator []string
}

func trailColumns(entries []activities.TrailEntry) trail {
	var t trail
	seen := make(map[int64]bool, len(entries))
	for _, e := range entries {
		if e.Seq <= 0 || seen[e.Seq] {
			continue
		}
		seen[e.Seq] = true
		t.seq = append(t.seq, e.Seq)
		t.at = append(t.at, e.At)
		t.kind = append(t.kind, e.Kind)
		t.from = append(t.from, e.From)
		t.to = append(t.to, e.To)
		t.eventID = append(t.eventID, e.EventID)
		t.note = append(t.note, e.Note)
		t.operator = append(t.operator, e.Operator)
	}
	// pgx sends a nil slice as NULL, which unnest reads as no rows too; an
	// empty slice says so plainly.
	if t.seq == nil {
		t = trail{seq: []int64{}, at: []time.Time{}, kind: []string{}, from: []string{}, to: []string{},
			eventID: []string{}, note: []string{}, operator: []string{}}
	}
	return t
}

// Trail returns every stored transition of a workflow's loan, oldest first
// (by Seq); none for an unknown workflow.
func (s *Store) Trail(ctx context.Context, workflowID string) ([]activities.TrailEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT seq, at, kind, from_state, to_state, event_id, note, operator
		FROM loan_trail WHERE workflow_id = $1 ORDER BY seq`, workflowID)
	if err != nil {
		return nil, fmt.Errorf("store: trail: %w", err)
	}
	defer rows.Close()
	var out []activities.TrailEntry
	for rows.Next() {
		var e activities.TrailEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Kind, &e.From, &e.To, &e.EventID, &e.Note, &e.Operator); err != nil {
			return nil, fmt.Errorf("store: trail: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: trail: %w", err)
	}
	return out, nil
}
