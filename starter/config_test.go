package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/config"
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
	if len(sc.CodecOrigins) != 2 || sc.CodecOpen {
		t.Errorf("codec origins %v open %v", sc.CodecOrigins, sc.CodecOpen)
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
