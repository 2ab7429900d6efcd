package sandbox_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

var fullWalk = []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanApproved, awda.LoanSigned,
	awda.LoanDisbursing, awda.LoanDisbursed, awda.LoanRepaying, awda.LoanRepaying, awda.LoanSettled}

// walkByAdmin submits a loan and advances it to SETTLED one step at a time.
func walkByAdmin(t *testing.T, e *env, partnerUserID string, n int) string {
	t.Helper()
	loanNo := e.submit(e.prepare(partnerUserID, n), "order-"+partnerUserID)
	for _, st := range fullWalk[1:] {
		if _, err := e.srv.Advance(loanNo, st); err != nil {
			t.Fatalf("advance to %s: %v", st, err)
		}
	}
	return loanNo
}

func TestPushesAreSignedRetriedAndInOrder(t *testing.T) {
	h := newHook(t)
	// The webhook fails in every way a partner can before it acknowledges.
	h.answer = func(n int) (int, string) {
		switch n {
		case 1:
			return http.StatusInternalServerError, `oops`
		case 2:
			return http.StatusOK, `{"code":1000,"message":"busy"}`
		case 3:
			return http.StatusOK, `not json`
		case 4, 9:
			return http.StatusServiceUnavailable, ``
		}
		return http.StatusOK, `{"code":0,"message":"success"}`
	}
	e := newEnv(t, sandbox.Config{
		LoanStatusWebhookURL: h.ts.URL + "/loan",
		Delivery:             sandbox.Delivery{RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond},
	})
	loanNo := walkByAdmin(t, e, "p-push", 61)
	waitIdle(t, e.srv)

	got := h.loanEvents()
	if !equal(statuses(got), fullWalk) {
		t.Fatalf("pushed %v, want %v in order", statuses(got), fullWalk)
	}
	if p := h.problems(); len(p) > 0 {
		t.Fatalf("signature problems: %v", p)
	}
	ids := map[string]bool{}
	prev := awda.LoanStatus("")
	for i, ev := range got {
		if ev.LoanNo != loanNo || ev.OrderNo != "order-p-push" || ev.EventType != awda.EventTypeLoanStatus || ev.OccurredAt == 0 {
			t.Errorf("event %d: %+v", i, ev)
		}
		if ev.PrevStatus != prev {
			t.Errorf("event %d: prevStatus %s, want %s", i, ev.PrevStatus, prev)
		}
		prev = ev.Status
		if ids[ev.EventID] {
			t.Errorf("eventId %s repeated", ev.EventID)
		}
		ids[ev.EventID] = true
	}
	if got[6].Period != 1 || got[7].Period != 2 || got[8].Period != 3 || got[5].Amount != 2_850_000 || got[6].Amount != 1_090_000 {
		t.Errorf("periods and amounts: %+v", got[5:])
	}
	ps := e.srv.Stats().Pushes
	// prepare's two authorization callbacks have no webhook here.
	want := sandbox.PushStats{Events: 11, Deliveries: 9, Sent: 14, Acknowledged: 9, Failed: 5, Undeliverable: 2}
	if ps != want {
		t.Fatalf("push stats %+v, want %+v", ps, want)
	}
}

func TestPushesDuplicated(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{LoanStatusWebhookURL: h.ts.URL + "/loan", Delivery: sandbox.Delivery{Duplicates: 2}})
	walkByAdmin(t, e, "p-dup-push", 62)
	waitIdle(t, e.srv)
	got := h.loanEvents()
	if len(got) != 27 {
		t.Fatalf("%d deliveries, want 27", len(got))
	}
	// In order, each event three times in a row (same eventId).
	for i := 0; i < 27; i += 3 {
		if got[i] != got[i+1] || got[i] != got[i+2] || got[i].Status != fullWalk[i/3] {
			t.Fatalf("deliveries %d..%d: %+v", i, i+2, got[i:i+3])
		}
	}
	if ps := e.srv.Stats().Pushes; ps.Events != 11 || ps.Deliveries != 27 || ps.Acknowledged != 27 {
		t.Fatalf("stats %+v", ps)
	}
}

func TestPushesReordered(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{
		Seed:                 11,
		LoanStatusWebhookURL: h.ts.URL + "/loan",
		Delivery:             sandbox.Delivery{Reorder: true, DelayMin: 0, DelayMax: 300 * time.Millisecond},
	})
	walkByAdmin(t, e, "p-reorder", 63)
	waitIdle(t, e.srv)
	got := statuses(h.loanEvents())
	if len(got) != len(fullWalk) {
		t.Fatalf("%d events arrived, want %d", len(got), len(fullWalk))
	}
	if equal(got, fullWalk) {
		t.Fatalf("Reorder with delays delivered everything in order: %v", got)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	want := slices.Clone(fullWalk)
	slices.Sort(want)
	if !equal(sorted, want) {
		t.Fatalf("reordered set %v differs from %v", got, fullWalk)
	}
}

func TestPushesGiveUpAfterMaxAttempts(t *testing.T) {
	h := newHook(t)
	h.answer = func(int) (int, string) { return http.StatusBadGateway, "" }
	e := newEnv(t, sandbox.Config{
		AuthWebhookURL: h.ts.URL + "/auth",
		Delivery:       sandbox.Delivery{RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, MaxAttempts: 3},
	})
	uid := e.prepareUserOnly("p-drop", 64)
	if err := e.srv.SetAuthorization(uid, "EKYC", awda.AuthFailed); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.srv)
	if ps := e.srv.Stats().Pushes; ps.Sent != 3 || ps.Dropped != 1 || ps.Pending != 0 || ps.Acknowledged != 0 {
		t.Fatalf("stats %+v", ps)
	}
}

func TestAuthorizationCallbacksSignedWithRSA(t *testing.T) {
	awdaKey := rsaKey(t)
	signer, err := awda.NewRSASigner(awdaKey)
	if err != nil {
		t.Fatal(err)
	}
	h := newHook(t)
	h.verify = signer.Public()
	e := newEnv(t, sandbox.Config{AuthWebhookURL: h.ts.URL + "/auth", PushSigner: signer})
	uid := e.prepareUserOnly("p-rsa", 65)
	for _, st := range []awda.AuthStatus{awda.AuthPending, awda.AuthFailed, awda.AuthSuccess, awda.AuthExpired} {
		if err := e.srv.SetAuthorization(uid, "TELCO", st); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, e.srv)
	got := h.authEvents()
	if p := h.problems(); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	if len(got) != 3 || got[0].Status != awda.AuthFailed || got[1].Status != awda.AuthSuccess || got[2].Status != awda.AuthExpired {
		t.Fatalf("callbacks %+v (PENDING must not push)", got)
	}
	for _, ev := range got {
		if ev.UserID != uid || ev.AuthType != "TELCO" || ev.EventID == "" || ev.OccurredAt == 0 {
			t.Errorf("callback %+v", ev)
		}
	}
}

func TestEventsWithoutWebhook(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	loanNo := walkByAdmin(t, e, "p-nohook", 66)
	evs := e.srv.Events()
	var loan []awda.LoanStatusEvent
	for _, ev := range evs {
		if ev.Kind == sandbox.EventKindLoanStatus {
			loan = append(loan, *ev.Loan)
		}
	}
	if !equal(statuses(loan), fullWalk) || loan[0].LoanNo != loanNo {
		t.Fatalf("recorded %v", statuses(loan))
	}
	if ps := e.srv.Stats().Pushes; ps.Undeliverable != len(evs) || ps.Sent != 0 {
		t.Fatalf("stats %+v", ps)
	}
	tr, err := e.srv.LoanTransitions(loanNo)
	if err != nil || len(tr) != len(fullWalk) || tr[0].By != "api" || tr[1].By != "admin" {
		t.Fatalf("transitions %+v %v", tr, err)
	}
}

// A webhook URL without a path is signed over "/", the path its request
// line carries.
func TestPushToURLWithoutPath(t *testing.T) {
	got := make(chan error, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := awda.NotificationVerifier{AppID: testAppID, Keys: []awda.Verifier{hmacSigner(t, testSecret)}}
		_, err := v.ReadAndVerify(r)
		got <- err
		awda.WriteAck(w)
	}))
	defer ts.Close()
	e := newEnv(t, sandbox.Config{AuthWebhookURL: ts.URL})
	uid := e.prepareUserOnly("p-root", 67)
	if err := e.srv.SetAuthorization(uid, "EKYC", awda.AuthSuccess); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.srv)
	if err := <-got; err != nil {
		t.Fatalf("verification at the webhook: %v", err)
	}
	if ps := e.srv.Stats().Pushes; ps.Acknowledged != 1 || ps.Failed != 0 {
		t.Fatalf("stats %+v", ps)
	}
}
