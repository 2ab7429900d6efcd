//go:build integration

package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/internal/store"
)

func projection(ref string, seq int64, stage string) activities.ApplicationProjection {
	return activities.ApplicationProjection{
		WorkflowID:   "loan:" + ref,
		ApplicantRef: ref,
		Seq:          seq,
		Stage:        stage,
		Amount:       1_500_000,
		Tenor:        30,
		TenorUnit:    "DAY",
		UpdatedAt:    time.Date(2026, 1, 1, 0, 0, int(seq), 0, time.UTC),
	}
}

func TestUpsertApplicationNeverMovesBackwards(t *testing.T) {
	s := newStore(t)
	p3 := projection("ref-1", 3, "SIGNING")
	p3.AwdaUserID, p3.AwdaLoanNo, p3.LoanStatus = "U100", "L200", "APPROVED"
	if err := s.UpsertApplication(ctx(t), p3); err != nil {
		t.Fatal(err)
	}

	// A late write from an earlier transition.
	p2 := projection("ref-1", 2, "BANK_CARD")
	p2.Stuck, p2.StuckReason = true, "late"
	if err := s.UpsertApplication(ctx(t), p2); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetApplication(ctx(t), "ref-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 3 || got.Stage != "SIGNING" || got.Stuck || got.AwdaLoanNo != "L200" || got.LoanStatus != "APPROVED" {
		t.Fatalf("after seq 3 then 2: %+v", got)
	}

	// A retried write of the same transition, with different contents, is
	// ignored too: a seq is written once.
	p3b := p3
	p3b.Stage = "SOMETHING_ELSE"
	if err := s.UpsertApplication(ctx(t), p3b); err != nil {
		t.Fatal(err)
	}
	again, err := s.GetApplication(ctx(t), "ref-1")
	if err != nil {
		t.Fatal(err)
	}
	if *again != *got {
		t.Fatalf("same seq changed the row:\n%+v\n%+v", got, again)
	}

	// A newer write applies; AWDA IDs already known survive a projection
	// that leaves them empty.
	p4 := projection("ref-1", 4, "DISBURSED")
	p4.Terminal = true
	if err := s.UpsertApplication(ctx(t), p4); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetApplication(ctx(t), "ref-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 4 || got.Stage != "DISBURSED" || !got.Terminal || got.AwdaLoanNo != "L200" || got.AwdaUserID != "U100" ||
		!got.UpdatedAt.Equal(p4.UpdatedAt) {
		t.Fatalf("after seq 4: %+v", got)
	}
}

func TestCreateApplicationIdempotent(t *testing.T) {
	s := newStore(t)
	created, hash, err := s.CreateApplication(ctx(t), "ref-c", "loan:ref-c", "hash-a", 2_000_000, 3, "MONTH")
	if err != nil || !created || hash != "hash-a" {
		t.Fatalf("first create: %v %q %v", created, hash, err)
	}
	created, hash, err = s.CreateApplication(ctx(t), "ref-c", "loan:ref-c", "hash-a", 2_000_000, 3, "MONTH")
	if err != nil || created || hash != "hash-a" {
		t.Fatalf("same request again: %v %q %v", created, hash, err)
	}
	created, hash, err = s.CreateApplication(ctx(t), "ref-c", "loan:ref-c", "hash-b", 9, 1, "DAY")
	if err != nil || created || hash != "hash-a" {
		t.Fatalf("conflicting request: %v %q %v", created, hash, err)
	}
	a, err := s.GetApplication(ctx(t), "ref-c")
	if err != nil {
		t.Fatal(err)
	}
	if a.Amount != 2_000_000 || a.Tenor != 3 || a.TenorUnit != "MONTH" || a.RequestHash != "hash-a" || a.Seq != 0 {
		t.Fatalf("row: %+v", a)
	}

	// The workflow's first projection lands before the API recorded the
	// create: the create still claims the ref, once.
	if err := s.UpsertApplication(ctx(t), projection("ref-w", 1, "SUBMITTED")); err != nil {
		t.Fatal(err)
	}
	created, hash, err = s.CreateApplication(ctx(t), "ref-w", "loan:ref-w", "hash-w", 1_500_000, 30, "DAY")
	if err != nil || !created || hash != "hash-w" {
		t.Fatalf("create after projection: %v %q %v", created, hash, err)
	}
	if a, err := s.GetApplication(ctx(t), "ref-w"); err != nil || a.Stage != "SUBMITTED" || a.Seq != 1 {
		t.Fatalf("create overwrote the projection: %+v %v", a, err)
	}
	created, _, err = s.CreateApplication(ctx(t), "ref-w", "loan:ref-w", "hash-other", 1, 1, "DAY")
	if err != nil || created {
		t.Fatalf("second claim: %v %v", created, err)
	}
}

func TestGetApplicationNotFound(t *testing.T) {
	s := newStore(t)
	if _, err := s.GetApplication(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestListApplicationsFiltersAndPages(t *testing.T) {
	s := newStore(t)
	// 25 applications; stages cycle through three values, every fifth is
	// stuck. Groups of five share a creation time, so the order relies on the
	// ref tiebreak.
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	stages := []string{"SUBMITTED", "SIGNING", "DISBURSED"}
	for i := 0; i < 25; i++ {
		ref := fmt.Sprintf("ref-%02d", i)
		p := projection(ref, 1, stages[i%3])
		p.Stuck = i%5 == 0
		if err := s.UpsertApplication(ctx(t), p); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx(t), `UPDATE applications SET created_at = $2 WHERE applicant_ref = $1`,
			ref, base.Add(time.Duration(i/5)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// Newest first: group 4 (refs 20..24) first, within a group refs descending.
	var want []string
	for g := 4; g >= 0; g-- {
		for i := g*5 + 4; i >= g*5; i-- {
			want = append(want, fmt.Sprintf("ref-%02d", i))
		}
	}

	collect := func(f store.ListFilter) []string {
		t.Helper()
		var refs []string
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("pagination does not end")
			}
			apps, next, err := s.ListApplications(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) > f.Limit && f.Limit > 0 {
				t.Fatalf("page of %d > limit %d", len(apps), f.Limit)
			}
			for _, a := range apps {
				refs = append(refs, a.ApplicantRef)
			}
			if next == "" {
				return refs
			}
			f.Cursor = next
		}
	}

	if got := collect(store.ListFilter{Limit: 7}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages of 7:\n got %v\nwant %v", got, want)
	}
	if got := collect(store.ListFilter{Limit: 5}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages of 5 (exact multiple):\n got %v\nwant %v", got, want)
	}
	if got := collect(store.ListFilter{}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("default limit:\n got %v\nwant %v", got, want)
	}

	filtered := func(keep func(i int) bool) []string {
		var out []string
		for _, ref := range want {
			var i int
			fmt.Sscanf(ref, "ref-%d", &i)
			if keep(i) {
				out = append(out, ref)
			}
		}
		return out
	}
	yes, no := true, false
	cases := []struct {
		name string
		f    store.ListFilter
		want []string
	}{
		{"stage", store.ListFilter{Stage: "SIGNING", Limit: 3}, filtered(func(i int) bool { return i%3 == 1 })},
		{"stuck", store.ListFilter{Stuck: &yes, Limit: 2}, filtered(func(i int) bool { return i%5 == 0 })},
		{"not stuck", store.ListFilter{Stuck: &no, Limit: 6}, filtered(func(i int) bool { return i%5 != 0 })},
		{"stage and stuck", store.ListFilter{Stage: "SUBMITTED", Stuck: &yes, Limit: 1}, filtered(func(i int) bool { return i%3 == 0 && i%5 == 0 })},
		{"no match", store.ListFilter{Stage: "NOPE"}, nil},
	}
	for _, c := range cases {
		if got := collect(c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}

	for _, bad := range []string{"garbage", "eyJ4IjoxfQ"} {
		if _, _, err := s.ListApplications(ctx(t), store.ListFilter{Cursor: bad}); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("cursor %q: err = %v, want ErrInvalidCursor", bad, err)
		}
	}
	if _, _, err := s.ListApplications(ctx(t), store.ListFilter{Limit: store.MaxListLimit + 1}); err == nil {
		t.Error("limit above the maximum accepted")
	}
}

func TestWorkflowLookups(t *testing.T) {
	s := newStore(t)
	old := projection("ref-old", 5, "SETTLED")
	old.AwdaUserID, old.AwdaLoanNo, old.Terminal = "U1", "L-old", true
	cur := projection("ref-new", 2, "SIGNING")
	cur.AwdaUserID, cur.AwdaLoanNo = "U1", "L-new"
	other := projection("ref-other", 1, "SUBMITTED")
	for _, p := range []activities.ApplicationProjection{cur, old, other} {
		if err := s.UpsertApplication(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	// The settled loan is the newer row, yet the open one wins for the user.
	if _, err := s.Pool().Exec(ctx(t), `UPDATE applications SET created_at = now() + interval '1 hour' WHERE applicant_ref = 'ref-old'`); err != nil {
		t.Fatal(err)
	}

	for loanNo, want := range map[string]string{"L-old": "loan:ref-old", "L-new": "loan:ref-new"} {
		if got, err := s.WorkflowIDByLoanNo(ctx(t), loanNo); err != nil || got != want {
			t.Errorf("WorkflowIDByLoanNo(%s) = %q, %v; want %q", loanNo, got, err, want)
		}
	}
	if got, err := s.WorkflowIDByUserID(ctx(t), "U1"); err != nil || got != "loan:ref-new" {
		t.Errorf("WorkflowIDByUserID(U1) = %q, %v; want loan:ref-new", got, err)
	}
	for _, f := range []func() (string, error){
		func() (string, error) { return s.WorkflowIDByLoanNo(ctx(t), "L-unknown") },
		func() (string, error) { return s.WorkflowIDByLoanNo(ctx(t), "") },
		func() (string, error) { return s.WorkflowIDByUserID(ctx(t), "U-unknown") },
		func() (string, error) { return s.WorkflowIDByUserID(ctx(t), "") },
	} {
		if got, err := f(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown lookup = %q, %v; want ErrNotFound", got, err)
		}
	}

	// Once the user's last open loan closes, the newest loan answers.
	cur.Seq, cur.Terminal = 3, true
	if err := s.UpsertApplication(ctx(t), cur); err != nil {
		t.Fatal(err)
	}
	if got, err := s.WorkflowIDByUserID(ctx(t), "U1"); err != nil || got != "loan:ref-old" {
		t.Errorf("WorkflowIDByUserID(U1) after close = %q, %v; want loan:ref-old", got, err)
	}
}

// The business gauges' count: open loans by stage and the stuck among them;
// closed loans are left out, and so is a stage that only closed loans are in.
func TestCountOpenLoans(t *testing.T) {
	s := newStore(t)
	if got, err := s.CountOpenLoans(ctx(t)); err != nil || len(got) != 0 {
		t.Fatalf("empty read model: %v, %v; want no stage", got, err)
	}
	write := func(ref, stage string, stuck, terminal bool) {
		t.Helper()
		p := projection(ref, 1, stage)
		p.Stuck, p.Terminal = stuck, terminal
		if stuck {
			p.StuckStep, p.StuckReason = "submit loan", "validation"
		}
		if err := s.UpsertApplication(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	write("c-1", "REVIEW", false, false)
	write("c-2", "REVIEW", false, false)
	write("c-3", "SUBMIT", true, false)
	write("c-4", "SUBMIT", false, false)
	write("c-5", "DISBURSEMENT", true, false)
	write("c-6", "SETTLED", false, true)
	write("c-7", "FAILED", false, true)
	// Created by the API, no projection yet.
	if _, _, err := s.CreateApplication(ctx(t), "c-8", "loan:c-8", "hash", 1_000_000, 30, "DAY"); err != nil {
		t.Fatal(err)
	}
	got, err := s.CountOpenLoans(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StageCount{{"", 1, 0}, {"DISBURSEMENT", 1, 1}, {"REVIEW", 2, 0}, {"SUBMIT", 2, 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CountOpenLoans = %v, want %v", got, want)
	}
}

// What a workflow task retried after its worker died can leave: its first
// attempt's local activity wrote a Seq with that attempt's state; the
// attempt that completed, having seen more events, writes the same Seq
// with AWDA's user ID (which routes AWDA's callbacks), and ends the loan
// with a Seq no higher than the first attempt reached. The IDs are filled
// in and the end is shown; the rest of a stale-Seq write is still ignored.
func TestUpsertApplicationAfterARetriedTask(t *testing.T) {
	s := newStore(t)
	first := projection("ref-r", 5, "REGISTER")
	if err := s.UpsertApplication(ctx(t), first); err != nil {
		t.Fatal(err)
	}
	completed := projection("ref-r", 5, "AUTHORIZATIONS")
	completed.AwdaUserID = "U7"
	if err := s.UpsertApplication(ctx(t), completed); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetApplication(ctx(t), "ref-r")
	if err != nil {
		t.Fatal(err)
	}
	if got.AwdaUserID != "U7" || got.Stage != "REGISTER" || got.Seq != 5 {
		t.Fatalf("after the same Seq with the user ID: %+v, want U7 filled in, the rest as the first write left it", got)
	}
	if ids, err := s.RouteInbox(ctx(t), nil, nil, []string{"U7"}); err != nil || ids.ByUserID["U7"] != "loan:ref-r" {
		t.Fatalf("route by user: %v %v", ids, err)
	}

	// The first attempt of a later task rested at DISBURSEMENT with Seq 9;
	// the attempt that completed saw the loan settle and ended it with 8.
	rest := projection("ref-r", 9, "DISBURSEMENT")
	if err := s.UpsertApplication(ctx(t), rest); err != nil {
		t.Fatal(err)
	}
	end := projection("ref-r", 8, "SETTLED")
	end.Terminal, end.LoanStatus = true, "SETTLED"
	if err := s.UpsertApplication(ctx(t), end); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetApplication(ctx(t), "ref-r")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Terminal || got.Stage != "SETTLED" || got.LoanStatus != "SETTLED" || got.Seq != 9 || got.AwdaUserID != "U7" {
		t.Fatalf("after the final write with a lower Seq: %+v, want SETTLED, terminal", got)
	}
	// Nothing moves an ended row again but a newer write.
	late := projection("ref-r", 9, "REPAYMENT")
	if err := s.UpsertApplication(ctx(t), late); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.GetApplication(ctx(t), "ref-r"); again.Stage != "SETTLED" || !again.Terminal {
		t.Fatalf("a stale write moved the ended row: %+v", again)
	}
}
