package k8s_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// knob is one environment variable a configuration struct declares.
type knob struct {
	name     string
	def      string // envDefault
	required bool
	secret   bool // of type Secret or []Secret (envconfig.Secret): never printed, never a literal here
}

// scanKnobs parses the Go files of a package (tests excluded) and returns
// every variable its struct tags declare (`env:"NAME[,required]"`). This is
// how deploy/compose_test.go and deploy/docs_test.go read them: the
// starter's are in package main, which no test can import.
func scanKnobs(t *testing.T, dir string) map[string]knob {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]knob{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			field, ok := n.(*ast.Field)
			if !ok || field.Tag == nil {
				return true
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			st := reflect.StructTag(tag)
			name, opts, _ := strings.Cut(st.Get("env"), ",")
			if name == "" || name == "-" {
				return true
			}
			def, _ := st.Lookup("envDefault")
			out[name] = knob{name: name, def: def, required: slices.Contains(strings.Split(opts, ","), "required"), secret: isSecretType(field.Type)}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatalf("no env struct tags found in %s", dir)
	}
	return out
}

// isSecretType reports whether a field's type is Secret, pkg.Secret or a
// slice of either.
func isSecretType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "Secret"
	case *ast.SelectorExpr:
		return x.Sel.Name == "Secret"
	case *ast.ArrayType:
		return isSecretType(x.Elt)
	}
	return false
}

// knobSets are the variables each binary's command reads.
type knobSets struct {
	shared  map[string]knob // internal/config: the worker and `starter serve`
	starter map[string]knob // starter/: `starter serve`'s own
}

func scanKnobSets(t *testing.T) knobSets {
	t.Helper()
	s := knobSets{shared: scanKnobs(t, "internal/config"), starter: scanKnobs(t, "starter")}
	// The scan must see what we know is there; if the code changes shape,
	// this test must be taught, not silently pass.
	for set, want := range map[string]map[string]knob{"DATABASE_URL AWDAFLOW_KEYS AWDA_HMAC_SECRET TEMPORAL_API_KEY": s.shared,
		"STARTER_API_TOKENS STARTER_CODEC_TOKENS AWDA_NOTIFY_HMAC_SECRETS": s.starter} {
		for _, v := range strings.Fields(set) {
			if !want[v].secret {
				t.Fatalf("scan: %s is not found as a Secret-typed knob", v)
			}
		}
	}
	if !s.shared["DATABASE_URL"].required || s.starter["STARTER_HTTP_ADDR"].def == "" {
		t.Fatal("scan: the required flags or the defaults were not found")
	}
	return s
}

// reads is what a container's command reads, by its binary and arguments.
func (s knobSets) reads(command []string) map[string]knob {
	out := map[string]knob{}
	switch strings.Join(command, " ") {
	case "/usr/local/bin/worker", "/usr/local/bin/worker replay-gate":
		for k, v := range s.shared {
			out[k] = v
		}
	case "/usr/local/bin/starter serve":
		for _, set := range []map[string]knob{s.shared, s.starter} {
			for k, v := range set {
				out[k] = v
			}
		}
	case "/usr/local/bin/starter migrate":
		// starter/main.go: migrate needs DATABASE_URL only.
		out["DATABASE_URL"] = s.shared["DATABASE_URL"]
	}
	return out
}

// standardEnv are the variables a binary reads that no configuration struct
// declares: the Go runtime's, and OpenTelemetry's standard ones (the SDK
// reads them; tracing is off unless its exporter is configured).
var standardEnv = []string{
	"GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "TZ",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_PROPAGATORS", "OTEL_SDK_DISABLED",
}

// workerRoutes are the patterns the worker registers on its mux
// (worker/http.go, package main: parsed, since no test can import it):
// every mux.HandleFunc("PATTERN", …) or mux.Handle("PATTERN", …).
func workerRoutes(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(root, "worker", "http.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: a route registered with a pattern that is not a literal; teach this test", path)
			return true
		}
		p, _ := strconv.Unquote(lit.Value)
		out = append(out, p)
		return true
	})
	if !slices.Contains(out, "GET /metrics") {
		t.Fatalf("%s: found routes %v, not GET /metrics: teach this test the new shape", path, out)
	}
	return out
}
