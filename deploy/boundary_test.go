package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The product/tools boundary (make lint runs these): what ships is the
// product module's binaries, and they link nothing of the tools, of the test
// support, or of the sandbox they are tested against. The tools live in
// tools/, a module of their own; the product's go.mod never requires it.

const module = "github.com/awdaflow/awdaflow"

// shipped are the binaries the Dockerfile builds, with what each must not
// link besides the tools and the test support.
var shipped = map[string][]string{
	"./worker":                        {module + "/awda/sandbox"},
	"./starter":                       {module + "/awda/sandbox"},
	"./awda/sandbox/cmd/awda-sandbox": {module + "/workflows", module + "/internal/store"},
	"./deploy/httpprobe":              {module + "/awda"},
}

// neverShipped is linked by no shipped binary: the tools, the test support
// (a throwaway PostgreSQL and dev server for the product's own tests), and
// Temporal's test suite. (testify cannot be on this list: the SDK's own
// internal package links testify/mock.)
var neverShipped = []string{
	module + "/tools/",
	module + "/internal/testenv",
	"go.temporal.io/sdk/testsuite",
}

type listed struct {
	ImportPath   string
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// goList runs go list -json in the product module and decodes its stream.
func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func matches(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/") ||
		(strings.HasSuffix(prefix, "/") && strings.HasPrefix(path, prefix))
}

func TestBoundaryShippedBinaries(t *testing.T) {
	for bin, forbidden := range shipped {
		pkgs := goList(t, "-deps=false", bin)
		if len(pkgs) != 1 {
			t.Fatalf("%s: go list gave %d packages", bin, len(pkgs))
		}
		deps := goList(t, "-deps", bin)
		for _, d := range deps {
			for _, bad := range append(slices.Clone(neverShipped), forbidden...) {
				if matches(d.ImportPath, bad) {
					t.Errorf("%s links %s (forbidden: %s)", bin, d.ImportPath, bad)
				}
			}
		}
	}
}

// TestBoundaryTestSupport: product packages import the test support only
// from their tests, and nothing of the tools at all.
func TestBoundaryTestSupport(t *testing.T) {
	for _, p := range goList(t, "-tags", "integration", "./...") {
		for _, imp := range p.Imports {
			if matches(imp, module+"/internal/testenv") && p.ImportPath != module+"/internal/testenv" {
				t.Errorf("%s imports %s outside its tests", p.ImportPath, imp)
			}
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if matches(imp, module+"/tools/") {
				t.Errorf("%s imports the tool %s", p.ImportPath, imp)
			}
		}
	}
}

// TestBoundaryGoMod: the product's go.mod requires no tools module, and the
// tools' go.mod builds the product from this tree.
func TestBoundaryGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(module+"/tools")) {
		t.Error("the product's go.mod names the tools module")
	}
	tb, err := os.ReadFile(filepath.Join("..", "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var mod, repl bool
	sc := bufio.NewScanner(bytes.NewReader(tb))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" && f[1] == module+"/tools" {
			mod = true
		}
		if len(f) == 4 && f[0] == "replace" && f[1] == module && f[2] == "=>" && f[3] == "../" {
			repl = true
		}
	}
	if !mod || !repl {
		t.Errorf("tools/go.mod: module %s/tools %v, replace %s => ../ %v", module, mod, module, repl)
	}
}
