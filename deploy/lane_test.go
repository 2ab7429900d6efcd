package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTemporalVersionsMatchTheLane holds docker-compose.yml's Temporal
// images to the one pin of the production lane (the Makefile's
// TEMPORAL_SERVER_VERSION and TEMPORAL_UI_VERSION, which `make
// temporal-server` and `make temporal-ui` build): what STACK=server runs is
// what compose deploys.
func TestTemporalVersionsMatchTheLane(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	pin := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*v(\S+)\s*$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("Makefile: no %s ?= vX.Y.Z", name)
		}
		return string(m[1])
	}
	server, ui := pin("TEMPORAL_SERVER_VERSION"), pin("TEMPORAL_UI_VERSION")
	want := map[string]string{"temporalio/server": server, "temporalio/admin-tools": server, "temporalio/ui": ui}
	seen := map[string]bool{}
	for name, s := range loadCompose(t).Services {
		repo, tag, _ := strings.Cut(s.Image, ":")
		v, ok := want[repo]
		if !ok {
			continue
		}
		seen[repo] = true
		if tag != v {
			t.Errorf("%s: image %s, but the Makefile pins %s %s: change both together", name, s.Image, repo, v)
		}
	}
	for repo := range want {
		if !seen[repo] {
			t.Errorf("docker-compose.yml has no %s image", repo)
		}
	}
}
