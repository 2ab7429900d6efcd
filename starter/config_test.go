package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	tokenA = "api-token-aaaaaaaaaaaaaaaa"
	tokenB = "api-token-bbbbbbbbbbbbbbbb"
)

func TestLoadStarterDefaults(t *testing.T) {
	env := map[string]string{EnvAPITokens: tokenA + ", " + tokenB, config.EnvAWDAHMACSecret: "merchant-secret"}
	sc, err := loadStarter(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if sc.HTTPAddr != DefaultHTTPAddr || len(sc.APITokens) != 2 || sc.APITokens[1].Reveal() != tokenB {
		t.Errorf("addr %q tokens %d", sc.HTTPAddr, len(sc.APITokens))
	}
	// Without keys of its own, AWDA signs notifications with the merchant secret.
	if len(sc.NotifyHMACSecrets) != 1 || sc.NotifyHMACSecrets[0].Reveal() != "merchant-secret" {
		t.Errorf("notify secrets: %d", len(sc.NotifyHMACSecrets))
	}
	v, err := sc.Verifier("app")
	if err != nil || len(v.Keys) != 1 || v.AppID != "app" {
		t.Fatalf("verifier %+v %v", v, err)
	}
	if strings.Join(sc.CodecOrigins, ",") != DefaultCodecOrigins || sc.CodecOpen {
		t.Errorf("codec origins %v open %v", sc.CodecOrigins, sc.CodecOpen)
	}
	// The envDefault tags say what the packages that use the values say.
	for name, got := range map[string][2]any{
		"banks TTL": {sc.BanksTTL, api.DefaultBanksTTL}, "max document": {sc.MaxDocumentBytes, int64(api.DefaultMaxDocumentBytes)},
		"update timeout": {sc.UpdateTimeout, api.DefaultUpdateTimeout}, "forward interval": {sc.ForwardInterval, inbox.DefaultInterval},
		"orphan grace": {sc.OrphanGrace, DefaultOrphanGrace}, "retry max": {sc.RetryMaxBackoff, inbox.DefaultMaxBackoff},
		"shutdown": {sc.ShutdownTimeout, DefaultShutdownTimeout}, "tolerance": {sc.NotifyTolerance, awda.DefaultNotificationTolerance},
		"drain delay": {sc.DrainDelay, DefaultDrainDelay},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: default %v, want %v", name, got[0], got[1])
		}
	}
}

// Every problem is reported at once, each naming its variable, and no
// secret is quoted.
func TestLoadStarterErrors(t *testing.T) {
	env := map[string]string{
		EnvAPITokens:     "short-secret-x",
		EnvHTTPAddr:      "0.0.0.0:8080",
		EnvCodecOpen:     "true",
		EnvCodecOrigins:  "localhost:8233",
		EnvBanksTTL:      "soon",
		EnvMaxDocument:   "999999999999",
		EnvNotifyRSAKeys: filepath.Join(t.TempDir(), "missing.pem"),
	}
	_, err := loadStarter(func(k string) string { return env[k] })
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, name := range []string{EnvAPITokens, EnvCodecOpen, EnvCodecOrigins, EnvBanksTTL, EnvMaxDocument, EnvNotifyRSAKeys} {
		if !strings.Contains(msg, name) {
			t.Errorf("no problem reported for %s:\n%s", name, msg)
		}
	}
	if strings.Contains(msg, "short-secret-x") {
		t.Errorf("a token is quoted: %s", msg)
	}

	_, err = loadStarter(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), EnvAPITokens) {
		t.Errorf("no tokens: %v", err)
	}
}

func TestLoadStarterNotificationKeys(t *testing.T) {
	pem, err := os.ReadFile(filepath.Join("..", "awda", "testdata", "rsa_test_key.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "awda.pub.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		EnvAPITokens:      tokenA,
		EnvNotifySecrets:  "old-notify-secret,new-notify-secret",
		EnvNotifyRSAKeys:  keyFile,
		EnvNotifyTolerate: "2m",
		EnvCodecOpen:      "true", // loopback address by default: allowed
	}
	sc, err := loadStarter(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	v, err := sc.Verifier("app")
	if err != nil || len(v.Keys) != 3 || v.Tolerance.Minutes() != 2 {
		t.Fatalf("verifier keys %d tolerance %v err %v", len(v.Keys), v.Tolerance, err)
	}
	if !sc.CodecOpen {
		t.Error("codec not open")
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	if code := run(nil, getenv, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Errorf("no command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"launch"}, getenv, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"status", "app-1"}, getenv, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), EnvAPIToken) {
		t.Errorf("no token: %d %q", code, errOut.String())
	}
	errOut.Reset()
	env := map[string]string{EnvAPIToken: tokenA}
	if code := run([]string{"status"}, func(k string) string { return env[k] }, &out, &errOut); code != 2 {
		t.Errorf("status without a ref: %d", code)
	}
	if code := run([]string{"apply"}, func(k string) string { return env[k] }, &out, &errOut); code != 2 {
		t.Errorf("apply without --file: %d", code)
	}
	if code := run([]string{"migrate"}, getenv, &out, &errOut); code != 2 {
		t.Errorf("migrate without DATABASE_URL: %d", code)
	}
	errOut.Reset()
	if code := run([]string{"serve"}, func(k string) string { return map[string]string{}[k] }, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), config.EnvAWDAAppID) || !strings.Contains(errOut.String(), EnvAPITokens) {
		t.Errorf("serve without configuration: %d %q", code, errOut.String())
	}
}

// The LOAN_* knobs: set values go into the workflow configuration as they
// are, unset ones stay zero (the workflow's defaults).
func TestLoadStarterLoanKnobs(t *testing.T) {
	env := map[string]string{EnvAPITokens: tokenA, config.EnvAWDAHMACSecret: "s",
		EnvLoanPollInterval: "15m", EnvLoanPollBackoffCap: "4h", EnvLoanReviewDeadline: "504h",
		EnvLoanDisbursementDeadline: "720h", EnvLoanCardVerifyDeadline: "48h", EnvLoanAuthDeadline: "24h",
		EnvLoanBankCardDeadline: "36h", EnvLoanAgreementDeadline: "96h", EnvLoanOverduePollInterval: "12h",
		EnvLoanDueCheckJitter: "90m", EnvLoanRetryBudget: "45m", EnvLoanCallTimeout: "20s", EnvLoanContinueAsNewEvents: "1200"}
	sc, err := loadStarter(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := workflows.Config{PollInterval: 15 * time.Minute, PollBackoffCap: 4 * time.Hour, ReviewDeadline: 21 * 24 * time.Hour,
		DisbursementDeadline: 30 * 24 * time.Hour, CardVerifyDeadline: 48 * time.Hour, AuthorizationDeadline: 24 * time.Hour,
		BankCardDeadline: 36 * time.Hour, AgreementDeadline: 4 * 24 * time.Hour, OverduePollInterval: 12 * time.Hour,
		DueCheckJitter: 90 * time.Minute, RetryBudget: 45 * time.Minute, CallTimeout: 20 * time.Second, ContinueAsNewEvents: 1200}
	if sc.Loan != want {
		t.Errorf("loan config\n got %+v\nwant %+v", sc.Loan, want)
	}
	if len(loanKnobs) != 13 {
		t.Errorf("%d knobs; this test sets 13", len(loanKnobs))
	}

	sc, err = loadStarter(func(k string) string {
		return map[string]string{EnvAPITokens: tokenA, config.EnvAWDAHMACSecret: "s"}[k]
	})
	if err != nil || sc.Loan != (workflows.Config{}) {
		t.Fatalf("unset knobs: %+v %v", sc.Loan, err)
	}
}

// A bad knob stops the starter with every problem at once, each naming its
// variable: unparsable values, and values the workflow would refuse
// (workflows.Config.Validate over the defaults), also against a default.
func TestLoadStarterLoanKnobErrors(t *testing.T) {
	env := map[string]string{EnvAPITokens: tokenA, config.EnvAWDAHMACSecret: "s",
		EnvLoanPollInterval:         "soon",
		EnvLoanContinueAsNewEvents:  "50",
		EnvLoanPollBackoffCap:       "5m", // below the default poll interval (10m)
		EnvLoanReviewDeadline:       "-1h",
		EnvLoanDisbursementDeadline: "1m",  // below the default poll interval
		EnvLoanRetryBudget:          "10s", // below the default call timeout (30s)
	}
	_, err := loadStarter(func(k string) string { return env[k] })
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		EnvLoanPollInterval + `: "soon": want a positive duration`,
		EnvLoanContinueAsNewEvents + ": must be between 100 and 8000",
		// LOAN_POLL_INTERVAL does not parse: the default stands in for it.
		EnvLoanPollBackoffCap + ": must not be below " + EnvLoanPollInterval + " (default 10m0s)",
		EnvLoanReviewDeadline + `: "-1h": want a positive duration`,
		EnvLoanDisbursementDeadline + ": must not be below " + EnvLoanPollInterval,
		EnvLoanRetryBudget + ": must not be below " + EnvLoanCallTimeout + " (default 30s)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if len(ce.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%s", len(ce.Problems), msg)
	}

	// serve refuses to start (exit 2) and says which variable.
	var out, errOut bytes.Buffer
	full := map[string]string{EnvAPITokens: tokenA, config.EnvAWDAHMACSecret: "s", config.EnvAWDAAppID: "app",
		config.EnvKeys: "k1=" + strings.Repeat("A", 43) + "=", config.EnvDatabaseURL: "postgres://u@127.0.0.1:1/db",
		EnvLoanCardVerifyDeadline: "3 days"}
	if code := run([]string{"serve"}, func(k string) string { return full[k] }, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), EnvLoanCardVerifyDeadline+`: "3 days"`) || strings.Count(errOut.String(), "\n  ") != 1 {
		t.Errorf("serve with a bad knob: %d %q", code, errOut.String())
	}
}
