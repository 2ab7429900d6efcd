//go:build integration

package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/activities"
)

func entry(seq int64, kind, from, to string) activities.TrailEntry {
	return activities.TrailEntry{Seq: seq, At: time.Date(2026, 1, 1, 0, 0, int(seq), 0, time.UTC), Kind: kind, From: from, To: to}
}

func trailString(es []activities.TrailEntry) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("%d:%s:%s>%s:%s:%s:%s;", e.Seq, e.Kind, e.From, e.To, e.EventID, e.Note, e.Operator)
	}
	return s
}

// The trail is stored once per Seq, with the row, in order; a retried write,
// a repeat of written entries and a late write whose row is skipped all add
// exactly the entries not stored yet.
func TestUpsertApplicationWritesTheTrail(t *testing.T) {
	s := newStore(t)
	wf := "loan:ref-t"

	p1 := projection("ref-t", 1, "AUTHORIZATIONS")
	p1.Trail = []activities.TrailEntry{entry(1, "stage", "", "REGISTER"), entry(2, "stage", "REGISTER", "ELIGIBILITY"), entry(3, "stage", "ELIGIBILITY", "AUTHORIZATIONS")}
	for i := 0; i < 2; i++ { // the activity retried after a lost answer
		if err := s.UpsertApplication(ctx(t), p1); err != nil {
			t.Fatal(err)
		}
	}

	// Seq 3 of the projection is written first (reordered); it repeats
	// entry 3 with other contents, which does not replace the stored one.
	p3 := projection("ref-t", 3, "SUBMIT")
	p3.Stuck, p3.StuckStep, p3.StuckReason = true, "submit loan", "configuration: awda …"
	changed := entry(3, "stage", "X", "Y")
	p3.Trail = []activities.TrailEntry{changed, entry(6, "stage", "BANK_CARD", "SUBMIT"), entry(7, "stuck", "", "submit loan")}
	if err := s.UpsertApplication(ctx(t), p3); err != nil {
		t.Fatal(err)
	}
	// Then the late seq 2: its row is older and skipped, its entries are not.
	p2 := projection("ref-t", 2, "BANK_CARD")
	p2.Trail = []activities.TrailEntry{entry(4, "authorization", "NONE", "SUCCESS"), entry(5, "stage", "AUTHORIZATIONS", "BANK_CARD"),
		{Seq: 0, Kind: "stage", To: "ignored: no seq"}}
	p2.Trail[0].EventID = "EV-1"
	if err := s.UpsertApplication(ctx(t), p2); err != nil {
		t.Fatal(err)
	}
	row, err := s.GetApplication(ctx(t), "ref-t")
	if err != nil {
		t.Fatal(err)
	}
	if row.Seq != 3 || row.Stage != "SUBMIT" || !row.Stuck || row.StuckStep != "submit loan" || row.StuckReason != "configuration: awda …" ||
		row.StuckSince == nil || !row.StuckSince.Equal(p3.UpdatedAt) {
		t.Fatalf("row after the late write: %+v", row)
	}

	// Abandoned: the operator's action is in the trail and the row.
	p4 := projection("ref-t", 4, "FAILED")
	p4.Terminal, p4.Reason, p4.Operator = true, "abandoned by operations while stuck at submit loan", "alice"
	resumed := entry(8, "resumed", "submit loan", "abandon")
	resumed.Operator, resumed.Note = "alice", "borrower unreachable"
	p4.Trail = []activities.TrailEntry{resumed, entry(9, "stage", "SUBMIT", "FAILED")}
	if err := s.UpsertApplication(ctx(t), p4); err != nil {
		t.Fatal(err)
	}

	got, err := s.Trail(ctx(t), wf)
	if err != nil {
		t.Fatal(err)
	}
	want := []activities.TrailEntry{entry(1, "stage", "", "REGISTER"), entry(2, "stage", "REGISTER", "ELIGIBILITY"),
		entry(3, "stage", "ELIGIBILITY", "AUTHORIZATIONS"), p2.Trail[0], p2.Trail[1], p3.Trail[1], p3.Trail[2], resumed, p4.Trail[1]}
	if trailString(got) != trailString(want) {
		t.Fatalf("trail:\n got %s\nwant %s", trailString(got), trailString(want))
	}
	for i := range got {
		if !got[i].At.Equal(want[i].At) {
			t.Errorf("entry %d at %v, want %v", got[i].Seq, got[i].At, want[i].At)
		}
	}

	row, err = s.GetApplication(ctx(t), "ref-t")
	if err != nil {
		t.Fatal(err)
	}
	if !row.Terminal || row.Reason != p4.Reason || row.Operator != "alice" || row.Stuck || row.StuckStep != "" || row.StuckSince != nil {
		t.Fatalf("abandoned row: %+v", row)
	}
	if other, err := s.Trail(ctx(t), "loan:nobody"); err != nil || len(other) != 0 {
		t.Fatalf("trail of an unknown loan: %v %v", other, err)
	}
}

// A loan parked on the same step across writes keeps the time it was first
// seen stuck there; another step, or stuck again after a retry, starts anew.
func TestStuckSince(t *testing.T) {
	s := newStore(t)
	write := func(seq int64, stuck bool, step string) *time.Time {
		t.Helper()
		p := projection("ref-s", seq, "DISBURSEMENT")
		p.Stuck, p.StuckStep, p.StuckReason = stuck, step, "r"
		if err := s.UpsertApplication(ctx(t), p); err != nil {
			t.Fatal(err)
		}
		row, err := s.GetApplication(ctx(t), "ref-s")
		if err != nil {
			t.Fatal(err)
		}
		return row.StuckSince
	}
	at := func(seq int64) time.Time { return projection("", seq, "").UpdatedAt }
	if got := write(1, true, "disbursement"); got == nil || !got.Equal(at(1)) {
		t.Fatalf("first stuck: %v", got)
	}
	if got := write(2, true, "disbursement"); got == nil || !got.Equal(at(1)) {
		t.Fatalf("still stuck on the same step: %v, want %v", got, at(1))
	}
	if got := write(3, true, "review"); got == nil || !got.Equal(at(3)) {
		t.Fatalf("stuck on another step: %v", got)
	}
	if got := write(4, false, ""); got != nil {
		t.Fatalf("resumed: %v", got)
	}
	if got := write(5, true, "review"); got == nil || !got.Equal(at(5)) {
		t.Fatalf("stuck again: %v", got)
	}
}
