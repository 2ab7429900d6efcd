package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/tools/stack"
)

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// A data folder holds dev.env: inside the repository it must be one git
// ignores, and this repository ignores every .data* folder.
func TestDataFolderMustBeIgnored(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := stack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{".data", ".data-x", ".data-x/sub"} {
		if err := checkIgnored(root, filepath.Join(root, dir)); err != nil {
			t.Errorf("AWDAFLOW_DATA=%s in this repository: %v", dir, err)
		}
	}
	err = checkIgnored(root, filepath.Join(root, "tools", "state"))
	if err == nil || !strings.Contains(err.Error(), "git does not ignore") || !strings.Contains(err.Error(), filepath.Join("tools", "state")) {
		t.Errorf("AWDAFLOW_DATA=tools/state: %v; want a refusal naming it", err)
	}
	if err := checkIgnored(root, root); err == nil {
		t.Error("the repository itself as data folder: accepted")
	}
	if err := checkIgnored(root, t.TempDir()); err != nil {
		t.Errorf("a folder outside the repository: %v", err)
	}

	// openData refuses before creating anything.
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	if _, err := openData(repo, "state"); err == nil {
		t.Fatal("openData accepted a folder git does not ignore")
	}
	if _, err := os.Stat(filepath.Join(repo, "state")); !os.IsNotExist(err) {
		t.Fatalf("the refused folder was created (%v)", err)
	}
}

// One run per data folder.
func TestDataFolderLock(t *testing.T) {
	dir := t.TempDir()
	first, err := openData(dir, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openData(dir, filepath.Join(dir, "data")); err == nil || !strings.Contains(err.Error(), "another make run") {
		t.Fatalf("second open: %v; want another make run", err)
	}
	first.lock.Close()
	second, err := openData(dir, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	second.lock.Close()
}

// The printed addresses are usable as printed: the token to send with the
// API, the codec server as the endpoint for the UI's setting, and a link a
// browser can open that shows payloads decoded by it.
func TestLinksAreUsable(t *testing.T) {
	k := links{
		UI: "http://127.0.0.1:8233", Starter: "http://127.0.0.1:8080", Worker: "http://127.0.0.1:9091",
		Sandbox: "http://127.0.0.1:8089", Temporal: "127.0.0.1:7233", Namespace: "default",
		Token: "dev-0123", Logs: ".data/logs", RunEnv: ".data/run/env",
		Loan: "http://127.0.0.1:8233/namespaces/default/workflows/loan:r1/run-1/history",
	}
	id := func(s string) string { return s }
	out := k.render(id, id, id)
	for _, want := range []string{
		"bearer token             dev-0123",
		"codec server endpoint      http://127.0.0.1:8080/codec   (paste into the Temporal UI's codec setting",
		"a loan, decoded by it    " + k.Loan,
		"?query=LoanStuck%20%3D%20true",
		`-d '{"payloads":[]}' "$STARTER_URL/codec/decode"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// No line offers the bare codec URL as something to open.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), "/codec") {
			t.Errorf("bare codec URL (a browser GET on it is a 404): %q", line)
		}
	}
	k.Loan = ""
	if out := k.render(id, id, id); !strings.Contains(out, "a loan, decoded by it    http://127.0.0.1:8233/namespaces/default/workflows (open any loan)") {
		t.Errorf("without loans:\n%s", out)
	}
	if strings.Contains(out, "replicas") {
		t.Errorf("a replicas line with one worker and one starter:\n%s", out)
	}
	k.Replicas = "starters http://127.0.0.1:1 http://127.0.0.1:2   workers http://127.0.0.1:3 http://127.0.0.1:4"
	if out := k.render(id, id, id); !strings.Contains(out, "replicas (own /metrics)    "+k.Replicas) {
		t.Errorf("with replicas:\n%s", out)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"DEMO_N": "5", "DEMO_ARGS": "-mix happy=1  -seed 3", "STARTER_PORT": "18080", "RUN_EXIT_AFTER_DEMO": "1"}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.demoN != 5 || strings.Join(c.demoArgs, " ") != "-mix happy=1 -seed 3" || !c.exitAfterDemo || c.data != ".data" {
		t.Fatalf("%+v", c)
	}
	for _, p := range c.ports {
		if (p.env == "STARTER_PORT") != (p.explicit == 18080) {
			t.Fatalf("ports %+v", c.ports)
		}
	}
	if c.server || c.shards != 0 {
		t.Fatalf("the dev lane is the default: %+v", c)
	}
	env = map[string]string{"STACK": "server", "TEMPORAL_HISTORY_SHARDS": "8"}
	if c, err = loadConfig(func(k string) string { return env[k] }); err != nil || !c.server || c.shards != 8 {
		t.Fatalf("STACK=server TEMPORAL_HISTORY_SHARDS=8: %+v, %v", c, err)
	}
	// Every bad value at once.
	env = map[string]string{"DEMO_N": "many", "SANDBOX_PORT": "99999", "RUN_EXIT_AFTER_DEMO": "perhaps",
		"STACK": "prod", "TEMPORAL_HISTORY_SHARDS": "0"}
	_, err = loadConfig(func(k string) string { return env[k] })
	for _, want := range []string{"DEMO_N", "SANDBOX_PORT", "RUN_EXIT_AFTER_DEMO", "STACK", "TEMPORAL_HISTORY_SHARDS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	// Every knob is read (and reading anything else panics).
	read := map[string]bool{}
	if _, err := loadConfig(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	for _, k := range Knobs {
		if !read[k] {
			t.Errorf("knob %s is never read", k)
		}
	}
}

// A port given explicitly must be free; a taken default is replaced by
// another, which the next run gets again.
func TestPorts(t *testing.T) {
	d := &dataDir{root: t.TempDir()}
	d.dir = d.root
	if err := os.MkdirAll(d.path("run"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	var warned []string
	warn := func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }

	_, err = d.ports([]portKnob{{env: "STARTER_PORT", def: 8080, explicit: busy}}, warn)
	if want := fmt.Sprintf("STARTER_PORT=%d is in use", busy); err == nil || err.Error() != want {
		t.Fatalf("explicit busy port: %v; want %q", err, want)
	}
	knobs := []portKnob{{env: "STARTER_PORT", def: busy}}
	got, err := d.ports(knobs, warn)
	if err != nil || got["STARTER_PORT"] == busy || got["STARTER_PORT"] == 0 {
		t.Fatalf("busy default: %v, %v", got, err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], fmt.Sprintf("port %d is taken", busy)) {
		t.Fatalf("warnings %q", warned)
	}
	again, err := d.ports(knobs, warn)
	if err != nil || again["STARTER_PORT"] != got["STARTER_PORT"] {
		t.Fatalf("next run: %v, %v; want the remembered %d", again, err, got["STARTER_PORT"])
	}
}
