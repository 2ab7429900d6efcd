//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

// signalRecorder is a Temporal that takes every signal.
type signalRecorder struct {
	mu   sync.Mutex
	sent []string // workflowID/signal/eventID
}

func (s *signalRecorder) SignalWorkflow(_ context.Context, workflowID, _, name string, arg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(arg)
	var ev struct{ EventID string }
	_ = json.Unmarshal(b, &ev)
	s.sent = append(s.sent, workflowID+"/"+name+"/"+ev.EventID)
	return nil
}

// Personal data a payload may carry beyond AWDA's contract (a field AWDA
// adds one day, a misbehaving sender): never shown.
var orphanPII = []string{"Rina Wulandari", "3171015507950003", "081355566677", "8800111222"}

// orphanEnv is a migrated database with three stored notifications that
// nothing routes: a loan status and an authorization (orphaned by a
// forwarder's attempt), and a body that is not an event (rejected); each
// payload carries personal data in fields outside the contract.
func orphanEnv(t *testing.T, ctx context.Context) (*store.Store, *inbox.Deliverer, *signalRecorder, func(string) string, []int64) {
	t.Helper()
	pool, dbURL := testenv.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	spec, err := codec.GenerateKeySpec("ob1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, ring)
	at := time.Now().UnixMilli()
	payloads := []store.InboxEntry{
		{Source: store.SourceLoanStatus, EventID: "ev-orphan-loan", LoanNo: "L-ORPHAN", Payload: []byte(fmt.Sprintf(
			`{"eventId":"ev-orphan-loan","eventType":"LOAN_STATUS","loanNo":"L-ORPHAN","orderNo":"AF00","status":"APPROVED","occurredAt":%d,"borrowerName":%q,"nik":%q,"mobile":%q}`,
			at, orphanPII[0], orphanPII[1], orphanPII[2]))},
		{Source: store.SourceAuthorization, EventID: "ev-orphan-auth", UserID: "U-ORPHAN", Payload: []byte(fmt.Sprintf(
			`{"eventId":"ev-orphan-auth","userId":"U-ORPHAN","authType":"EKYC","status":"SUCCESS","occurredAt":%d,"name":%q,"accountNo":%q}`,
			at, orphanPII[0], orphanPII[3]))},
		{Source: store.SourceLoanStatus, EventID: "ev-not-an-event", LoanNo: "L-ORPHAN", Payload: []byte(fmt.Sprintf(
			`{"eventId":"ev-not-an-event","eventType":"LOAN_STATUS","loanNo":"L-ORPHAN","status":%q,"occurredAt":%d}`, orphanPII[0], at))},
	}
	var ids []int64
	for _, e := range payloads {
		id, _, err := st.InsertInbox(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rec := &signalRecorder{}
	d := &inbox.Deliverer{Store: st, Temporal: rec, Log: zerolog.Nop()} // no grace: orphaned at once
	deliverDue(t, ctx, st, d)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": dbURL, "AWDAFLOW_KEYS": spec}[k] }
	return st, d, rec, getenv, ids
}

func deliverDue(t *testing.T, ctx context.Context, st *store.Store, d *inbox.Deliverer) {
	t.Helper()
	items, err := st.ClaimPending(ctx, 100, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(ctx, items); err != nil {
		t.Fatal(err)
	}
}

func starterCmd(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, getenv, &out, &errOut)
	text := out.String() + errOut.String()
	for _, p := range orphanPII {
		if strings.Contains(text, p) {
			t.Errorf("starter %s shows personal data %q:\n%s", strings.Join(args, " "), p, text)
		}
	}
	return code, out.String(), errOut.String()
}

// List and inspect show the rows' metadata and the payloads' contract
// fields, and none of the personal data the payloads carry.
func TestInboxOrphansAndInspectShowNoPersonalData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, _, getenv, ids := orphanEnv(t, ctx)

	code, out, errOut := starterCmd(t, getenv, "inbox", "orphans")
	if code != 0 {
		t.Fatalf("orphans: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ev-orphan-loan", "L-ORPHAN", "ev-orphan-auth", "U-ORPHAN", "no application for this loan", "no application for this user"} {
		if !strings.Contains(out, want) {
			t.Errorf("orphans lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ev-not-an-event") {
		t.Errorf("orphans lists the rejected row:\n%s", out)
	}
	code, out, _ = starterCmd(t, getenv, "inbox", "orphans", "--json")
	var rows []store.InboxRow
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 2 || rows[0].ID != ids[0] || rows[0].Attempts != 1 {
		t.Fatalf("orphans --json: exit %d, %v, %+v", code, err, rows)
	}

	code, out, errOut = starterCmd(t, getenv, "inbox", "inspect", fmt.Sprint(ids[0]))
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"payload.status", "APPROVED", "payload.loanNo", "payload.orderNo", "orphan"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = starterCmd(t, getenv, "inbox", "inspect", "--json", fmt.Sprint(ids[1]))
	var in inspectJSON
	if err := json.Unmarshal([]byte(out), &in); code != 0 || err != nil || in.Payload["authType"] != "EKYC" || len(in.Payload) != 5 {
		t.Errorf("inspect --json of the authorization: exit %d, %v, %+v", code, err, in)
	}
	code, out, _ = starterCmd(t, getenv, "inbox", "inspect", fmt.Sprint(ids[2]))
	if code != 0 || !strings.Contains(out, "rejected") || !strings.Contains(out, "not shown") || strings.Contains(out, "payload.") {
		t.Errorf("inspect of the rejected row: exit %d:\n%s", code, out)
	}

	// Without the key ring, or with a bad ID: a clear refusal.
	noKeys := func(k string) string {
		if k == "AWDAFLOW_KEYS" {
			return ""
		}
		return getenv(k)
	}
	if code, _, errOut := starterCmd(t, noKeys, "inbox", "inspect", fmt.Sprint(ids[0])); code != 2 || !strings.Contains(errOut, "AWDAFLOW_KEYS") {
		t.Errorf("inspect without keys: exit %d: %s", code, errOut)
	}
	if code, _, errOut := starterCmd(t, getenv, "inbox", "inspect", "x1"); code != 2 || !strings.Contains(errOut, "positive integer") {
		t.Errorf("inspect x1: exit %d: %s", code, errOut)
	}
	if code, _, errOut := starterCmd(t, getenv, "inbox", "inspect", "999999"); code != 1 || !strings.Contains(errOut, "no inbox row") {
		t.Errorf("inspect 999999: exit %d: %s", code, errOut)
	}
}

// Redeliver puts an orphan back to pending, audited; the forwarder routes
// it afresh and delivers it once its loan has an application. Rows that
// are not orphan or rejected are refused, and so is a redelivery without
// a reason.
func TestInboxRedeliverAfterAFix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, d, rec, getenv, ids := orphanEnv(t, ctx)

	if code, _, errOut := starterCmd(t, getenv, "inbox", "redeliver", fmt.Sprint(ids[0])); code != 2 || !strings.Contains(errOut, "--reason") {
		t.Fatalf("redeliver without a reason: exit %d: %s", code, errOut)
	}
	if code, _, errOut := starterCmd(t, getenv, "inbox", "redeliver", "--all-orphans", fmt.Sprint(ids[0]), "--reason", "x"); code != 2 {
		t.Fatalf("redeliver with IDs and --all-orphans: exit %d: %s", code, errOut)
	}

	// The fix: the loan's application exists now.
	wfID := "loan:orphan-fixed"
	if err := st.UpsertApplication(ctx, activities.ApplicationProjection{WorkflowID: wfID, ApplicantRef: "orphan-fixed", Seq: 1,
		Stage: "REVIEW", AwdaLoanNo: "L-ORPHAN", AwdaUserID: "U-ORPHAN"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := starterCmd(t, getenv, "inbox", "redeliver", fmt.Sprint(ids[0]), "--operator", "ops-7", "--reason", "application restored")
	if code != 0 || !strings.Contains(out, "orphan -> pending") {
		t.Fatalf("redeliver: exit %d: %s%s", code, out, errOut)
	}
	row, _, err := st.InboxRowByID(ctx, ids[0])
	if err != nil || row.Status != store.InboxPending || row.Attempts != 0 || row.Reason != "" {
		t.Fatalf("after redeliver: %+v, %v", row, err)
	}
	audit, err := st.InboxRedeliveries(ctx, ids[0])
	if err != nil || len(audit) != 1 || audit[0].Operator != "ops-7" || audit[0].Reason != "application restored" ||
		audit[0].FromStatus != store.InboxOrphan || audit[0].Attempts != 1 {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	deliverDue(t, ctx, st, d)
	if row, _, _ := st.InboxRowByID(ctx, ids[0]); row.Status != store.InboxDelivered || row.WorkflowID != wfID {
		t.Errorf("after the forwarder: %+v, want delivered to %s", row, wfID)
	}
	if fmt.Sprint(rec.sent) != "["+wfID+"/loan-status/ev-orphan-loan]" {
		t.Errorf("signals %v", rec.sent)
	}
	_, out, _ = starterCmd(t, getenv, "inbox", "inspect", fmt.Sprint(ids[0]))
	if !strings.Contains(out, "by ops-7 from orphan after 1 attempts: application restored") {
		t.Errorf("inspect lacks the redelivery:\n%s", out)
	}

	// A delivered row is not redelivered; --all-orphans takes the rest.
	if code, out, _ := starterCmd(t, getenv, "inbox", "redeliver", fmt.Sprint(ids[0]), "--reason", "again", "--operator", "ops-7"); code != 1 ||
		!strings.Contains(out, "this one is delivered") {
		t.Errorf("redeliver a delivered row: exit %d: %s", code, out)
	}
	code, out, _ = starterCmd(t, getenv, "inbox", "redeliver", "--all-orphans", "--operator", "ops-7", "--reason", "user mapping fixed")
	if code != 0 || !strings.Contains(out, "1 of 1 rows pending again") {
		t.Errorf("redeliver --all-orphans: exit %d: %s", code, out)
	}
	deliverDue(t, ctx, st, d)
	if row, _, _ := st.InboxRowByID(ctx, ids[1]); row.Status != store.InboxDelivered {
		t.Errorf("the authorization after redelivery: %+v", row)
	}
}
