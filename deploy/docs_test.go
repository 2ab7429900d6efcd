package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestConfigurationDocIsComplete holds docs/configuration.md to the code:
// every variable the worker, the starter and the sandbox read, and every
// variable of .env.example, is documented there.
func TestConfigurationDocIsComplete(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}

	sets := scanConfigSets(t)
	_, order := readEnvFile(t, filepath.Join(root, ".env.example"))

	sources := map[string]map[string]bool{
		"internal/config": sets.shared.vars,
		"starter":         sets.starterReads(),
		"awda-sandbox":    sets.sandbox.vars,
		".env.example":    {},
	}
	for _, v := range order {
		sources[".env.example"][v] = true
	}
	for src, vars := range sources {
		if len(vars) == 0 {
			t.Fatalf("no variables found in %s", src)
		}
		for v := range vars {
			if !documented[v] {
				t.Errorf("%s reads %s, which docs/configuration.md does not document", src, v)
			}
		}
	}

	// And the page documents nothing the code does not read: a variable
	// mentioned in a table row must come from one of the sources, or be a
	// tool's (make run, the tests).
	tools := map[string]bool{}
	for _, v := range strings.Fields("PG_BINDIR SCREENSHOT_QUERY CHROMIUM TEMPORAL_CLI AWDAFLOW_SERVER_LANE") {
		tools[v] = true
	}
	for _, v := range launcherKnobs(t) {
		tools[v] = true
		if !documented[v] {
			t.Errorf("make run (tools/cmd/run Knobs) reads %s, which docs/configuration.md does not document", v)
		}
	}
	// The standard OTEL_* variables are read by internal/tracing and the
	// OTel SDK, not internal/config: those internal/tracing names must be
	// documented, and any other the page lists is the SDK's.
	for _, v := range tracingVars(t) {
		if !documented[v] {
			t.Errorf("internal/tracing reads %s, which docs/configuration.md does not document", v)
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(cell, -1) {
			v := m[1]
			known := tools[v] || strings.HasPrefix(v, "OTEL_")
			for _, vars := range sources {
				known = known || vars[v]
			}
			if !known {
				t.Errorf("docs/configuration.md documents %s, which nothing reads", v)
			}
		}
	}
}

// tracingVars are the OTEL_* string literals of internal/tracing.
func tracingVars(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "internal", "tracing", "tracing.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`"(OTEL_[A-Z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatal("no OTEL_ variables found in internal/tracing/tracing.go")
	}
	return out
}

// launcherKnobs are the environment variables make run reads: the string
// literals of `var Knobs` in tools/cmd/run/env.go (another module, which this
// one cannot import).
func launcherKnobs(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(root, "tools", "cmd", "run", "env.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "Knobs" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: Knobs is not a composite literal", path)
		}
		for _, e := range lit.Elts {
			bl, ok := e.(*ast.BasicLit)
			if !ok {
				t.Fatalf("%s: Knobs holds something other than string literals", path)
			}
			v, err := strconv.Unquote(bl.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return false
	})
	if len(out) == 0 {
		t.Fatalf("no Knobs found in %s", path)
	}
	return out
}
