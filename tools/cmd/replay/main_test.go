package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
)

func keys(t *testing.T) func(string) string {
	t.Helper()
	spec, err := codec.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	return func(k string) string {
		if k == config.EnvKeys {
			return spec
		}
		return ""
	}
}

func recorded(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "workflows", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in workflows/testdata: %v", err)
	}
	return files
}

func TestReplaysRecordedHistories(t *testing.T) {
	files := recorded(t)
	var out, errOut bytes.Buffer
	if code := run(files, keys(t), &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	got := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "ok   ") {
			got++
		}
	}
	if got != len(files) {
		t.Errorf("%d ok lines for %d histories:\n%s", got, len(files), out.String())
	}
	if !strings.Contains(out.String(), "0 failed") {
		t.Errorf("no summary:\n%s", out.String())
	}
}

// A history whose recorded commands the current code would not issue (here
// a different first activity) fails: the deploy would break that loan.
func TestDetectsNondeterminism(t *testing.T) {
	src := recorded(t)[0]
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	mutated := bytes.Replace(b, []byte(`"activityType":{"name":"Register"}`), []byte(`"activityType":{"name":"Unregister"}`), 1)
	if bytes.Equal(mutated, b) {
		t.Fatalf("%s has no Register activity to alter", src)
	}
	bad := filepath.Join(t.TempDir(), "changed.json")
	if err := os.WriteFile(bad, mutated, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{src, bad}, keys(t), &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL ") || !strings.Contains(out.String(), "1 failed") {
		t.Errorf("the changed history did not fail alone:\n%s", out.String())
	}
}

func TestRefusesBadInput(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(recorded(t), func(string) string { return "" }, &out, &errOut); code != 2 {
		t.Errorf("without %s: exit %d, want 2", config.EnvKeys, code)
	}
	notHistory := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notHistory, []byte(`{"events":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{notHistory}, keys(t), &out, &errOut); code != 1 || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("an empty history: exit %d, want 1 with a FAIL line\n%s", code, out.String())
	}
}
