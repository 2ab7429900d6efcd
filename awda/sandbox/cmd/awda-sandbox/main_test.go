package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

// start runs the binary's run() in-process and returns its addresses.
func start(t *testing.T, args []string, env map[string]string) (addr, admin string, logs *testenv.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &testenv.SyncBuffer{}
	type addrs struct{ a, b string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, logs, func(a, b string) { ready <- addrs{a, b} })
	}()
	select {
	case got := <-ready:
		addr, admin = got.a, got.b
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("sandbox did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	return addr, admin, logs
}

func post(t *testing.T, url, body string) awda.Envelope {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env awda.Envelope
	if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil {
		t.Fatalf("HTTP %d: %s", res.StatusCode, raw)
	}
	return env
}

// The done-when: an unsigned register answers 1004, a correctly
// signed one 0, with nothing configured.
func TestDefaultsUnsignedAndSigned(t *testing.T) {
	addr, _, logs := start(t, []string{"-addr", "127.0.0.1:0", "-log-level", "debug"}, nil)
	base := "http://" + addr
	reg := `{"partnerUserId":"p-1","mobile":"081234567890","name":"Budi Santoso","nik":"3174011508900001","birthDate":"1990-08-15"}`
	if env := post(t, base+awda.PathUserRegister, reg); env.Code != awda.CodeSignatureFailed {
		t.Fatalf("unsigned register: code %d, want 1004", env.Code)
	}
	signer, _ := awda.NewHMACSigner([]byte(DefaultHMACSecret))
	cl, err := awda.NewClient(awda.Config{BaseURL: base, AppID: DefaultAppID, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Register(context.Background(), &awda.RegisterRequest{PartnerUserID: "p-1", Mobile: "081234567890", Name: "Budi Santoso", NIK: "3174011508900001", BirthDate: "1990-08-15"})
	if err != nil || res.UserID == "" {
		t.Fatalf("signed register: %v %+v", err, res)
	}
	// The admin API shares the listener by default.
	res2, err := http.Get(base + "/_sandbox/stats")
	if err != nil || res2.StatusCode != 200 {
		t.Fatalf("admin on the main listener: %v %v", err, res2)
	}
	res2.Body.Close()
	for _, pii := range []string{"3174011508900001", "081234567890", "+6281234567890", "Budi", DefaultHMACSecret} {
		if strings.Contains(logs.String(), pii) {
			t.Errorf("logs carry %q:\n%s", pii, logs)
		}
	}
	if !strings.Contains(logs.String(), "development HMAC secret") {
		t.Errorf("no warning about the development secret:\n%s", logs)
	}
}

func TestEnvironmentAndSeparateAdminListener(t *testing.T) {
	env := map[string]string{
		"SANDBOX_ADDR":                "127.0.0.1:0",
		"SANDBOX_ADMIN_ADDR":          "127.0.0.1:0",
		"AWDA_APP_ID":                 "env-app",
		"AWDA_HMAC_SECRET":            "env-secret",
		"SANDBOX_SEED":                "77",
		"SANDBOX_AUTOPILOT":           "true",
		"SANDBOX_AUTOPILOT_MIN_DELAY": "0s",
		"SANDBOX_AUTOPILOT_MAX_DELAY": "0s",
		"SANDBOX_FAULTS":              `{"bank/list":{"forceCode":1011}}`,
		"SANDBOX_LOG_FORMAT":          "json",
	}
	addr, admin, _ := start(t, nil, env)
	if admin == "" || admin == addr {
		t.Fatalf("admin listener %q, main %q", admin, addr)
	}
	signer, _ := awda.NewHMACSigner([]byte("env-secret"))
	cl, _ := awda.NewClient(awda.Config{BaseURL: "http://" + addr, AppID: "env-app", Signer: signer})
	if _, err := cl.BankList(context.Background()); !awda.IsBusy(err) {
		t.Fatalf("SANDBOX_FAULTS not applied: %v", err)
	}
	if _, err := cl.AuthList(context.Background(), &awda.AuthListRequest{UserID: "usr_x"}); !awda.IsNotFound(err) {
		t.Fatalf("env appId/secret: %v", err)
	}
	// The admin API is only on its own listener.
	if res, err := http.Get("http://" + addr + "/_sandbox/stats"); err != nil || res.StatusCode == 200 {
		t.Fatalf("admin reachable on the API listener: %v %v", err, res)
	}
	res, err := http.Get("http://" + admin + "/_sandbox/faults")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin listener: %v %v", err, res)
	}
	var fr sandbox.FaultsResponse
	json.NewDecoder(res.Body).Decode(&fr)
	res.Body.Close()
	if fr.Endpoints[awda.PathBankList].ForceCode != 1011 {
		t.Fatalf("faults over admin: %+v", fr)
	}
}

func TestFlagsOverrideEnvironmentAndBadInput(t *testing.T) {
	o, err := parse([]string{"-app-id", "flag-app", "-seed", "5"}, func(k string) string {
		return map[string]string{"AWDA_APP_ID": "env-app", "SANDBOX_SEED": "9", "SANDBOX_PUSH_DUPLICATES": "2"}[k]
	}, io.Discard)
	if err != nil || o.AppID != "flag-app" || o.Seed != 5 || o.Dup != 2 {
		t.Fatalf("parse: %v %+v", err, o)
	}
	// Without a seed, each start draws its own: a restarted sandbox does
	// not hand out the same loan numbers again.
	a, errA := parse(nil, func(string) string { return "" }, io.Discard)
	b, errB := parse(nil, func(string) string { return "" }, io.Discard)
	if errA != nil || errB != nil || a.Seed == 0 || a.Seed == b.Seed {
		t.Fatalf("default seeds %d and %d (%v, %v): want two different non-zero seeds", a.Seed, b.Seed, errA, errB)
	}
	if _, err := parse(nil, func(k string) string {
		if k == "SANDBOX_AUTOPILOT_MIN_DELAY" {
			return "soon"
		}
		return ""
	}, io.Discard); err == nil {
		t.Fatal("a bad duration in the environment was accepted")
	}
	if err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-faults", `{"nope":{}}`}, func(string) string { return "" }, io.Discard, nil); err == nil {
		t.Fatal("bad faults accepted")
	}
}

// The envDefault tags say what the constants say.
func TestDefaults(t *testing.T) {
	o, err := parse(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]any{
		"addr": {o.Addr, DefaultAddr}, "app id": {o.AppID, DefaultAppID},
		"autopilot min": {o.APMin, sandbox.DefaultAutopilotMinDelay}, "autopilot max": {o.APMax, sandbox.DefaultAutopilotMaxDelay},
		"retry base": {o.RetryBase, sandbox.DefaultRetryBase}, "retry max": {o.RetryMax, sandbox.DefaultRetryMax},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: default %v, want %v", name, got[0], got[1])
		}
	}
	if !o.Secret.Empty() || o.MaxAmount != 10_000_000 || o.LogLevel != "info" || o.ShutdownGrace != 5*time.Second {
		t.Errorf("defaults %+v", o)
	}
	// Every bad variable at once, each named.
	_, err = parse(nil, func(k string) string {
		return map[string]string{"SANDBOX_SEED": "x", "SANDBOX_PUSH_RETRY_MAX": "soon", "SANDBOX_AUTOPILOT": "maybe"}[k]
	}, io.Discard)
	for _, name := range []string{"SANDBOX_SEED", "SANDBOX_PUSH_RETRY_MAX", "SANDBOX_AUTOPILOT"} {
		if err == nil || !strings.Contains(err.Error(), name+": ") {
			t.Errorf("no problem reported for %s: %v", name, err)
		}
	}
}
