package sandbox_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// A sandbox stopped with loans in flight and started again from its state
// file still answers for them, delivers the pushes it owed and moves them
// on; it never hands out one of their ids again.
func TestStateFileKeepsLoansInFlight(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandbox", "state.json")
	down := newHook(t) // the partner is away while the first sandbox runs
	down.answer = func(int) (int, string) { return http.StatusServiceUnavailable, "away" }
	slow := sandbox.Autopilot{Enabled: true, MinDelay: time.Hour, MaxDelay: time.Hour}
	first := newEnv(t, sandbox.Config{
		Seed: 7, Autopilot: slow, StateFile: file,
		LoanStatusWebhookURL: down.ts.URL + "/loan", AuthWebhookURL: down.ts.URL + "/auth",
		Delivery: sandbox.Delivery{RetryBase: time.Hour, RetryMax: time.Hour},
	})
	b := first.prepare("persist-happy", 81)
	loanNo := first.submit(b, "order-persist-1")
	if st := first.loanStatus(loanNo); st != awda.LoanSubmitted {
		t.Fatalf("before the restart: %s, want SUBMITTED", st)
	}
	first.ts.Close()
	if err := first.srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file after Close: %v, %v (want mode 0600)", fi, err)
	}

	up := newHook(t)
	second := newEnv(t, sandbox.Config{
		Seed: 7, Autopilot: fastAutopilot(), StateFile: file,
		LoanStatusWebhookURL: up.ts.URL + "/loan", AuthWebhookURL: up.ts.URL + "/auth",
	})
	// It answers for the loan and the user (not 1010 / 1009).
	if st := second.loanStatus(loanNo); st == "" {
		t.Fatal("no status for the loan after the restart")
	}
	res, err := second.client.LoanSubmit(ctx(t), submission(b.userID, "order-persist-1", b.nik, b.ktp, b.selfie))
	wantClass(t, "the same orderNo after the restart", err, awda.ClassDuplicate, awda.CodeRepeatRequest)
	if res == nil || res.LoanNo != loanNo {
		t.Fatalf("the same orderNo again: %+v, %v; want 1001 with %s", res, err, loanNo)
	}
	// Its scheduled progress carries on: the autopilot reviews and
	// approves it, and once signed it is disbursed and repaid.
	second.signWhenApproved(loanNo)
	waitFor(t, "SETTLED", func() bool { return second.loanStatus(loanNo) == awda.LoanSettled })
	waitIdle(t, second.srv)
	got := statuses(up.loanEvents())
	if len(got) == 0 || got[0] != awda.LoanSubmitted {
		t.Fatalf("pushes after the restart %v: want the SUBMITTED push the first sandbox owed first", got)
	}
	if got[len(got)-1] != awda.LoanSettled {
		t.Fatalf("pushes after the restart %v: want SETTLED last", got)
	}
	// Same seed, new loan: a new loan number.
	other := second.prepare("persist-other", 82)
	if no := second.submit(other, "order-persist-2"); no == loanNo {
		t.Fatalf("the restarted sandbox handed out %s again", no)
	}
	if p := up.problems(); len(p) > 0 {
		t.Fatal(p)
	}
}

// A state file that is not the sandbox's is refused with an error naming
// it, never silently replaced.
func TestStateFileUnreadable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(file, []byte(`{"loans": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), StateFile: file})
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("New with a broken state file: %v; want an error naming the file", err)
	}
	if b, _ := os.ReadFile(file); string(b) != `{"loans": 3}` {
		t.Fatalf("the broken file was changed: %q", b)
	}
}

// SaveState writes nothing while nothing changed, and the file is never
// left half-written (temporary file and rename).
func TestSaveStateOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	e := newEnv(t, sandbox.Config{StateFile: file})
	if err := e.srv.SaveState(); err != nil {
		t.Fatal(err)
	}
	fi1, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SaveState(); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(file)
	if !os.SameFile(fi1, fi2) {
		t.Fatal("an unchanged state was written again")
	}
	e.prepare("persist-change", 83)
	if err := e.srv.SaveState(); err != nil {
		t.Fatal(err)
	}
	fi3, _ := os.Stat(file)
	if os.SameFile(fi1, fi3) {
		t.Fatal("a changed state was not written (or not by rename)")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left in the directory: %v", entries)
	}
}
