//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
	"go.uber.org/fx"
)

const (
	testAppID  = "app-starter-test"
	testSecret = "starter-test-hmac-secret"
)

func writePNG(t *testing.T, path string, n int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	img.Set(1, 1, color.RGBA{R: uint8(n), A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

const applicantJSON = `{
  "applicantRef": %q,
  "applicant": {
    "name": "Siti Rahayu Kusuma",
    "nik": "3171016208950003",
    "mobile": "081377788899",
    "birthDate": "1995-08-22",
    "personal": {"gender": "FEMALE", "maritalStatus": "MARRIED", "province": "DKI Jakarta",
                 "city": "Jakarta Timur", "address": "Jl. Kenanga 7", "dependents": 1},
    "work": {"occupation": "EMPLOYEE", "monthlyIncome": 9000000, "yearsEmployed": 4}
  },
  "loan": {"amount": 1500000, "tenor": 30, "tenorUnit": "DAY", "purpose": "WORKING_CAPITAL"},
  "emergencyContacts": [{"name": "Agus Kusuma", "mobile": "081366655544", "relation": "SPOUSE"}],
  "documents": [{"type": "KTP", "file": "ktp.png"}, {"type": "SELFIE", "file": "selfie.png"}]
}`

// `starter serve` in process, with its real wiring (fx, migrations at
// startup, the webhook receiver, the forwarder, the codec server), and the
// CLI's client commands against it: apply (uploading the images the file
// names), apply again (idempotent), status, list, retry, and a 404. A real
// worker runs the loan against the sandbox, whose pushes reach the
// starter's webhooks.
func TestServeAndCLI(t *testing.T) {
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t) // not migrated: serve migrates it
	keys, err := codec.GenerateKeySpec("st1")
	if err != nil {
		t.Fatal(err)
	}
	// AWDA's address is the sandbox's, known once it serves (below); the
	// sandbox needs the starter's address first.
	env, base := serveEnv(t, hostPort, ns, dbURL, keys, "", map[string]string{
		EnvCodecTokens:  tokenB,
		EnvForwardEvery: "200ms",
	})
	env[EnvURL] = base

	sb, err := sandbox.New(sandbox.Config{
		AppID: testAppID, HMACSecret: []byte(testSecret), Seed: 3,
		LoanStatusWebhookURL: base + webhook.PathLoanStatus,
		AuthWebhookURL:       base + webhook.PathAuthorization,
		Autopilot:            sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 60 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	sb.Start()
	t.Cleanup(func() { _ = sb.Close() })
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)

	env[config.EnvAWDABaseURL] = sbSrv.URL
	getenv := func(k string) string { return env[k] }
	app := startServe(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stopped := false
	defer func() {
		if !stopped {
			_ = app.Stop(context.Background())
		}
	}()

	// The worker, as the worker binary wires it, on the same key ring.
	ring, err := codec.ParseKeyRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, ring)
	dataKeys := storefx.NewDataKeys(ring, st, config.DataKeys{CacheTTL: 30 * time.Second, CacheSize: 100})
	st.UseDataKeys(dataKeys)
	opts := client.Options{HostPort: hostPort, Namespace: ns}
	codec.ConfigureClientWithKeys(&opts, ring, dataKeys)
	c := testenv.NewTemporalClient(t, opts)
	signer, _ := awda.NewHMACSigner([]byte(testSecret))
	ac, err := awda.NewClient(awda.Config{BaseURL: sbSrv.URL, AppID: testAppID, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.LoanApplication)
	w.RegisterActivity(activities.New(ac, st, st))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "ktp.png"), 12)
	writePNG(t, filepath.Join(dir, "selfie.png"), 13)
	ref := fmt.Sprintf("cli-%d", time.Now().UnixNano())
	file := filepath.Join(dir, "applicant.json")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(applicantJSON, ref)), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.TerminateWorkflow(context.Background(), workflows.LoanWorkflowID(ref), "", "test over") }()

	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := cli("apply", "--file", file)
	var created struct {
		ApplicationID, WorkflowID string
		Created                   bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || !created.Created || created.WorkflowID != workflows.LoanWorkflowID(ref) {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}
	// Again: the uploads find the same documents (same applicant, type and
	// bytes), so it is the same application.
	code, out, errOut = cli("apply", "--file", file)
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created.Created {
		t.Fatalf("apply again: %d %s %s", code, out, errOut)
	}
	// Another amount for the same ref: 409.
	changed := filepath.Join(dir, "changed.json")
	body := strings.Replace(fmt.Sprintf(applicantJSON, ref), "1500000", "1600000", 1)
	if err := os.WriteFile(changed, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("apply", "--file", changed); code != 1 || !strings.Contains(errOut, "HTTP 409") {
		t.Fatalf("apply with another amount: %d %s", code, errOut)
	}

	// The loan runs: authorizations through the sandbox and the webhooks.
	deadline := time.Now().Add(time.Minute)
	for {
		code, out, errOut = cli("status", ref)
		if code != 0 {
			t.Fatalf("status: %d %s", code, errOut)
		}
		if strings.Contains(out, `"action": "SUBMIT_BANK_CARD"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loan did not reach the bank card step:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, `"source": "workflow"`) || strings.Contains(out, "3171016208950003") {
		t.Fatalf("status:\n%s", out)
	}
	if code, out, errOut := cli("list", "--stage", "BANK_CARD"); code != 0 || !strings.Contains(out, ref) {
		t.Fatalf("list: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cli("retry", ref, "--reason", "drill"); code != 0 || !strings.Contains(out, `"signal": "retry"`) {
		t.Fatalf("retry: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := cli("status", "nobody-"+ref); code != 1 || !strings.Contains(errOut, "HTTP 404") {
		t.Fatalf("status of nobody: %d %s", code, errOut)
	}
	if code, out, errOut := cli("cancel", ref); code != 0 || !strings.Contains(out, `"signal": "cancel"`) {
		t.Fatalf("cancel: %d %s %s", code, out, errOut)
	}

	// Erasure: the reason is required; forced, it ends the loan whatever
	// the cancel has done so far.
	if code, _, errOut := cli("erase", ref); code != 1 || !strings.Contains(errOut, "HTTP 422") || !strings.Contains(errOut, "reason") {
		t.Fatalf("erase without a reason: %d %s", code, errOut)
	}
	code, out, errOut = cli("erase", ref, "--reason", "borrower request", "--operator", "ops-cli", "--force")
	if code != 0 || !strings.Contains(out, `"created": true`) || !strings.Contains(out, `"operator": "ops-cli"`) || !strings.Contains(out, `"dataKeyId": "dk_`) {
		t.Fatalf("erase: %d %s %s", code, out, errOut)
	}
	// The data keys are sealed under the ring's only key: nothing to
	// re-seal, and the count says so.
	code, out, errOut = cli("keys", "reseal")
	if code != 0 || !strings.Contains(out, "re-sealed 0 data keys under "+ring.PrimaryKeyID()) {
		t.Fatalf("keys reseal: %d %s %s", code, out, errOut)
	}

	// The codec server is mounted with its own token.
	req, _ := http.NewRequest(http.MethodPost, base+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("codec with the API token: %v %v", res.StatusCode, err)
	}
	req, _ = http.NewRequest(http.MethodPost, base+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
	req.Header.Set("Authorization", "Bearer "+tokenB)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("codec with its token: %v %v", res.StatusCode, err)
	}

	stopped = true
	if err := app.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after stop")
	}
}

// `starter migrate` applies the schema, and again finds nothing to do.
func TestMigrateCommand(t *testing.T) {
	pool, dbURL := testenv.NewDatabase(t)
	env := map[string]string{config.EnvDatabaseURL: dbURL}
	for i := 0; i < 2; i++ {
		var out, errOut bytes.Buffer
		if code := run([]string{"migrate"}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
			t.Fatalf("migrate #%d: %d %s", i+1, code, errOut.String())
		}
	}
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_name IN ('applications','documents','webhook_inbox','awda_calls')`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d tables (%v), want 4", n, err)
	}
	var out, errOut bytes.Buffer
	bad := map[string]string{config.EnvDatabaseURL: "postgres://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=2"}
	if code := run([]string{"migrate"}, func(k string) string { return bad[k] }, &out, &errOut); code != 1 || strings.Contains(errOut.String(), "secret-pw") {
		t.Fatalf("migrate an unreachable database: %d %s", code, errOut.String())
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// startServe loads the configuration from env as `starter serve` does and
// starts its application, with extra options (two minutes at most); the
// caller stops it.
func startServe(t *testing.T, env map[string]string, extra ...fx.Option) *fx.App {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	cfg, err := config.LoadFrom(getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := loadStarter(getenv)
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(cfg, sc, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return app
}
