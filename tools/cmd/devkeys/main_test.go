package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
)

func parse(t *testing.T, b []byte) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(v, " \t'\"$`\\") {
			t.Fatalf("line %q is not KEY=VALUE a shell can source as is", line)
		}
		env[k] = v
	}
	return env
}

func TestWriteIsAValidConfiguration(t *testing.T) {
	var out bytes.Buffer
	if err := write(&out, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	env := parse(t, out.Bytes())

	ring, err := codec.ParseKeyRing(env[config.EnvKeys])
	if err != nil {
		t.Fatalf("%s does not parse: %v", config.EnvKeys, err)
	}
	if got := ring.PrimaryKeyID(); got != "dev-20261127" {
		t.Errorf("primary key id %q, want dev-20261127", got)
	}
	if tok := env["STARTER_API_TOKENS"]; len(tok) < 16 || strings.Contains(tok, ",") {
		t.Errorf("STARTER_API_TOKENS %q: want one token of at least 16 characters", tok)
	}

	env[config.EnvDatabaseURL] = "postgres://u:p@127.0.0.1:5432/db"
	cfg, err := config.LoadFrom(func(k string) string { return env[k] }, false)
	if err != nil {
		t.Fatalf("the worker refuses the generated secrets: %v", err)
	}
	if cfg.AWDA.AppID != AppID || cfg.AWDA.HMACSecret.Reveal() != env[config.EnvAWDAHMACSecret] {
		t.Errorf("AWDA settings not taken: %+v", cfg.AWDA)
	}
}

func TestWriteIsFreshEachTime(t *testing.T) {
	var a, b bytes.Buffer
	now := time.Now()
	if err := write(&a, now); err != nil {
		t.Fatal(err)
	}
	if err := write(&b, now); err != nil {
		t.Fatal(err)
	}
	ea, eb := parse(t, a.Bytes()), parse(t, b.Bytes())
	for _, k := range []string{config.EnvKeys, "STARTER_API_TOKENS", config.EnvAWDAHMACSecret} {
		if ea[k] == eb[k] {
			t.Errorf("%s is the same in two runs", k)
		}
	}
}
