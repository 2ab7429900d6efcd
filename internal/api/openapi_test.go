package api

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	yaml "go.yaml.in/yaml/v3"

	"github.com/awdaflow/awdaflow/internal/store"
)

// bareServer is a Server whose dependencies are never reached: a store
// without a pool and a lazy Temporal client that never dials. Tests of
// routing, auth and validation use it; anything past those would panic.
func bareServer(t *testing.T) *Server {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s, err := New(Options{Store: store.New(nil, nil), Temporal: c, Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testToken = "unit-test-token-0123456789"

type openAPIDoc struct {
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components map[string]map[string]yaml.Node `yaml:"components"`
}

func loadOpenAPI(t *testing.T) (*openAPIDoc, *yaml.Node) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml does not parse: %v", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	return &doc, &root
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedRoutes turns the document's paths into mux patterns
// ("POST /v1/applications/{ref}/cancel").
func documentedRoutes(t *testing.T, doc *openAPIDoc) []string {
	var out []string
	for path, item := range doc.Paths {
		for key := range item {
			if !slices.Contains(httpMethods, key) {
				if key != "parameters" && key != "summary" && key != "description" {
					t.Errorf("%s: unexpected key %q", path, key)
				}
				continue
			}
			out = append(out, strings.ToUpper(key)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// The OpenAPI document and the real router agree: every documented
// operation is served by the route of the same pattern, and every route the
// server registers is documented.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	s := bareServer(t)
	documented := documentedRoutes(t, doc)
	served := s.Routes()
	slices.Sort(served)

	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		concrete := strings.ReplaceAll(path, "{ref}", "app-1")
		req := httptest.NewRequest(method, concrete, nil)
		if _, pattern := s.mux.Handler(req); pattern != d {
			t.Errorf("documented %s: the router serves it with %q", d, pattern)
		}
	}
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not documented in docs/openapi.yaml", r)
		}
	}
	if len(documented) != len(served) {
		t.Errorf("documented %d operations, served %d routes", len(documented), len(served))
	}
}

// Every $ref in the document points at a component that exists, and every
// operation has an operationId (unique) and responses.
func TestOpenAPIIsConsistent(t *testing.T) {
	doc, root := loadOpenAPI(t)
	var refs []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					refs = append(refs, n.Content[i+1].Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if len(refs) < 20 {
		t.Fatalf("only %d $refs found: the walk is broken", len(refs))
	}
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 {
			t.Errorf("$ref %q: want #/components/<kind>/<name>", ref)
			continue
		}
		if _, ok := doc.Components[parts[0]][parts[1]]; !ok {
			t.Errorf("$ref %q: no such component", ref)
		}
	}

	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var o struct {
				OperationID string               `yaml:"operationId"`
				Responses   map[string]yaml.Node `yaml:"responses"`
			}
			if err := op.Decode(&o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			where := strings.ToUpper(method) + " " + path
			if o.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[o.OperationID]; dup {
				t.Errorf("%s: operationId %q also on %s", where, o.OperationID, other)
			}
			ids[o.OperationID] = where
			if len(o.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			// Authenticated routes document their 401.
			if strings.HasPrefix(path, "/v1/") {
				if _, ok := o.Responses["401"]; !ok {
					t.Errorf("%s: no 401 response documented", where)
				}
			}
		}
	}
}
