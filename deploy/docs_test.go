package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
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
	for _, v := range strings.Fields("DEMO_N DEMO_ARGS AWDAFLOW_DATA TEMPORAL_PORT TEMPORAL_UI_PORT STARTER_PORT " +
		"WORKER_PORT SANDBOX_PORT RUN_EXIT_AFTER_DEMO PG_BINDIR SCREENSHOT_QUERY CHROMIUM TEMPORAL_CLI") {
		tools[v] = true
	}
	run, err := os.ReadFile(filepath.Join(root, "tools", "scripts", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for v := range tools {
		if v != "PG_BINDIR" && v != "SCREENSHOT_QUERY" && v != "CHROMIUM" && v != "TEMPORAL_CLI" && !strings.Contains(string(run), v) {
			t.Errorf("docs/configuration.md documents %s for make run, which tools/scripts/run.sh does not read", v)
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(cell, -1) {
			v := m[1]
			known := tools[v]
			for _, vars := range sources {
				known = known || vars[v]
			}
			if !known {
				t.Errorf("docs/configuration.md documents %s, which nothing reads", v)
			}
		}
	}
}
