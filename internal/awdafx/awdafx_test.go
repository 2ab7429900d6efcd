package awdafx_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
)

const (
	appID  = "app-awdafx"
	secret = "awdafx-secret"
)

type recorder struct {
	mu    sync.Mutex
	calls []awda.CallInfo
}

func (r *recorder) observe(_ context.Context, ci awda.CallInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, ci)
}

// build wires the module with metrics and a recording observer, as the worker
// does, and returns the client.
func build(t *testing.T, cfg config.AWDA, rec *recorder) *awda.Client {
	t.Helper()
	var c *awda.Client
	app := fxtest.New(t,
		fx.Supply(&config.Config{AWDA: cfg}, zerolog.Nop()),
		metrics.Module,
		awdafx.Module,
		fx.Provide(awdafx.AsObserver(func() awda.Observer { return rec.observe })),
		fx.Populate(&c),
	)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return c
}

func TestHMACClientSignsForTheSandbox(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{AppID: appID, HMACSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	rec := &recorder{}
	c := build(t, config.AWDA{BaseURL: srv.URL, AppID: appID, HMACSecret: secret, HTTPTimeout: 5 * time.Second}, rec)
	if _, err := c.BankList(context.Background()); err != nil {
		t.Fatalf("BankList: %v", err)
	}

	// The wrong secret is the sandbox's 1004, a configuration error.
	bad := build(t, config.AWDA{BaseURL: srv.URL, AppID: appID, HMACSecret: "other", HTTPTimeout: 5 * time.Second}, rec)
	if _, err := bad.BankList(context.Background()); !awda.IsConfiguration(err) {
		t.Fatalf("BankList with the wrong secret: %v, want a configuration error", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) != 2 || rec.calls[0].Outcome() != "ok" || rec.calls[1].Code != awda.CodeSignatureFailed {
		t.Fatalf("observed %+v", rec.calls)
	}
}

func TestRSAClientSignsForTheSandbox(t *testing.T) {
	keyFile := filepath.Join("..", "..", "awda", "testdata", "rsa_test_key.pem")
	pubPEM, err := os.ReadFile(filepath.Join("..", "..", "awda", "testdata", "rsa_test_key.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := awda.ParseRSAPublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{AppID: appID, PartnerPublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	c := build(t, config.AWDA{BaseURL: srv.URL, AppID: appID, RSAPrivateKeyFile: keyFile, HTTPTimeout: 5 * time.Second}, &recorder{})
	if _, err := c.BankList(context.Background()); err != nil {
		t.Fatalf("BankList: %v", err)
	}
}

func TestSignerErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notKey, []byte("-----BEGIN NOTHING-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []config.AWDA{
		{RSAPrivateKeyFile: notKey},
		{RSAPrivateKeyFile: filepath.Join(dir, "missing.pem")},
	} {
		_, err := awdafx.NewSigner(cfg)
		if err == nil || !strings.Contains(err.Error(), config.EnvAWDARSAKeyFile) {
			t.Errorf("NewSigner(%+v) = %v, want an error naming %s", cfg, err, config.EnvAWDARSAKeyFile)
		}
	}
	if _, err := awdafx.NewSigner(config.AWDA{}); err == nil {
		t.Error("NewSigner without a key succeeded")
	}
}

func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	target := httptest.NewServer(nil)
	defer target.Close()
	redirect := httptest.NewServer(httpRedirect(target.URL))
	defer redirect.Close()
	c := build(t, config.AWDA{BaseURL: redirect.URL, AppID: appID, HMACSecret: secret, HTTPTimeout: 5 * time.Second}, &recorder{})
	_, err := c.BankList(context.Background())
	e, ok := awda.AsError(err)
	if !ok || e.HTTPStatus != 307 || e.Class != awda.ClassConfiguration {
		t.Fatalf("BankList against a redirect: %v, want HTTP 307 as a configuration error", err)
	}
}
