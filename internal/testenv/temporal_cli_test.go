package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTemporalCLIPathHonoursEnv(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "temporal")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TemporalCLIEnv, exe)
	got, err := TemporalCLIPath()
	if err != nil || got != exe {
		t.Fatalf("TemporalCLIPath() = %q, %v; want %q", got, err, exe)
	}

	notExe := filepath.Join(dir, "data")
	if err := os.WriteFile(notExe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TemporalCLIEnv, notExe)
	if _, err := TemporalCLIPath(); err == nil || !strings.Contains(err.Error(), TemporalCLIEnv) {
		t.Fatalf("TemporalCLIPath() with a non-executable %s: err = %v, want one naming the variable", TemporalCLIEnv, err)
	}
}

func TestDevServerArgsRegisterSearchAttributes(t *testing.T) {
	s := &TemporalServer{dir: "/x", hostPort: "127.0.0.1:7999", namespace: "default",
		extraArgs: []string{"--dynamic-config-value", "a.b=1"}}
	args := strings.Join(s.args(), " ")
	for _, want := range []string{
		"server start-dev --headless --ip 127.0.0.1 --port 7999 --namespace default",
		"--db-filename /x/temporal.db",
		"--search-attribute LoanStage=Keyword",
		"--search-attribute LoanStuck=Bool",
		"--search-attribute AwdaLoanNo=Keyword",
		"--search-attribute ApplicantRef=Keyword",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if !strings.HasSuffix(args, "--dynamic-config-value a.b=1") {
		t.Errorf("extra args not last:\n%s", args)
	}
}

// With UIPort (make run) the Web UI is served instead of running headless.
func TestDevServerArgsWithUI(t *testing.T) {
	s := &TemporalServer{UIPort: 8233, dir: "/x", hostPort: "127.0.0.1:7999", namespace: "default"}
	args := strings.Join(s.args(), " ")
	if !strings.HasPrefix(args, "server start-dev --ui-port 8233 --ip 127.0.0.1 --port 7999") || strings.Contains(args, "--headless") {
		t.Errorf("args with a UI port:\n%s", args)
	}
}
