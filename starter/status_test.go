package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// starter status shows how a closed loan ended and who ended it, and where
// a stuck loan is parked and why, above the JSON (on stderr).
func TestStatusShowsReasonOperatorAndStuck(t *testing.T) {
	answers := map[string]string{
		"/v1/applications/abandoned": `{"applicationId":"abandoned","workflowId":"loan:abandoned","source":"readModel","stage":"FAILED",
			"stuck":false,"terminal":true,"reason":"abandoned by operations while stuck at submit loan","operator":"alice",
			"amount":1,"tenor":1,"tenorUnit":"DAY","trail":[{"seq":1,"at":"2026-01-01T00:00:00Z","kind":"stage","to":"REGISTER"}]}`,
		"/v1/applications/stuck": `{"applicationId":"stuck","workflowId":"loan:stuck","source":"workflow","stage":"SUBMIT","stuck":true,
			"stuckAt":{"step":"submit loan","reason":"configuration: awda (code 1005)","since":"2026-01-02T03:04:05Z"},
			"terminal":false,"amount":1,"tenor":1,"tenorUnit":"DAY"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answers[r.URL.Path]))
	}))
	defer srv.Close()
	env := map[string]string{EnvAPIToken: tokenA, EnvURL: srv.URL}
	for ref, want := range map[string][]string{
		"abandoned": {"loan:abandoned  FAILED (ended; from the read model)", "reason:   abandoned by operations while stuck at submit loan",
			"operator: alice", "trail:    1 transitions"},
		"stuck": {"loan:stuck  SUBMIT (open; live)", "stuck at: submit loan, since 2026-01-02T03:04:05Z", "reason:   configuration: awda (code 1005)"},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"status", ref}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
			t.Fatalf("status %s: %d %s", ref, code, errOut.String())
		}
		for _, w := range want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("status %s: no %q in\n%s", ref, w, errOut.String())
			}
		}
		if !strings.HasPrefix(out.String(), "{") {
			t.Errorf("status %s: stdout is not the JSON: %s", ref, out.String())
		}
	}
}
