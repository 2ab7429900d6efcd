package temporalx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A value is parsed again when its file changes (renamed over, or
// rewritten in place with another size); contents that do not parse keep
// the previous value until the file is fixed.
func TestReloadingKeepsTheLastGoodValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "value")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	parses := 0
	parse := func(c [][]byte) (string, error) {
		parses++
		if strings.HasPrefix(string(c[0]), "bad") {
			return "", errors.New("bad contents")
		}
		return string(c[0]), nil
	}
	write("bad")
	if _, err := newReloading("value", nil, parse, path); err == nil {
		t.Fatal("a file that does not parse at start must fail")
	}
	write("one")
	r, err := newReloading("value", nil, parse, path)
	if err != nil {
		t.Fatal(err)
	}
	get := func(want string) {
		t.Helper()
		if v, err := r.get(); err != nil || v != want {
			t.Fatalf("get() = %q, %v; want %q", v, err, want)
		}
	}
	before := parses
	get("one")
	get("one")
	if parses != before {
		t.Errorf("an unchanged file was parsed again (%d times)", parses-before)
	}
	write("two!") // in place, another size
	get("two!")
	write("bad contents")
	get("two!")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	get("two!")
	write("three")
	get("three")
}
