package deploy_test

import (
	"bytes"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

// The stack's services: the long-running ones and the one-shot jobs.
var (
	longRunning = []string{"postgres", "temporal", "temporal-ui", "worker", "starter", "proxy", "sandbox"}
	jobs        = []string{"temporal-schema", "temporal-setup", "migrate"}
	// Ours: built from the Dockerfile, binary chosen by entrypoint.
	ours = map[string]string{"migrate": "starter", "worker": "worker", "starter": "starter", "sandbox": "awda-sandbox"}
)

func TestServices(t *testing.T) {
	c := loadCompose(t)
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	want := append(slices.Clone(longRunning), jobs...)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for name, s := range c.Services {
		switch {
		case name == "sandbox":
			if !slices.Equal(s.Profiles, []string{"sandbox"}) {
				t.Errorf("sandbox: profiles %v, want [sandbox] (optional)", s.Profiles)
			}
		case len(s.Profiles) > 0:
			t.Errorf("%s: profiles %v; only the sandbox is optional", name, s.Profiles)
		}
		if slices.Contains(jobs, name) != s.job() {
			t.Errorf("%s: restart %q; jobs restart on-failure only, services unless-stopped", name, s.Restart)
		}
		if !s.job() && s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
}

var pinnedTag = regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9]+\.[0-9]+(\.[0-9]+)?(-[a-z0-9.]+)?$`)

func TestImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	temporalVersions := map[string]string{}
	for name, s := range c.Services {
		if bin, ok := ours[name]; ok {
			if s.Build == nil || s.Build.Dockerfile != "Dockerfile" || s.Build.Context != "." {
				t.Errorf("%s: want build from ./Dockerfile, got %+v", name, s.Build)
			}
			if !strings.HasPrefix(s.Image, "awdaflow:") {
				t.Errorf("%s: image %q, want awdaflow:TAG", name, s.Image)
			}
			if len(s.Entrypoint) == 0 || s.Entrypoint[0] != "/usr/local/bin/"+bin {
				t.Errorf("%s: entrypoint %v, want /usr/local/bin/%s", name, s.Entrypoint, bin)
			}
			if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("%s: want read_only, cap_drop [ALL], no-new-privileges", name)
			}
			continue
		}
		if s.Build != nil {
			t.Errorf("%s: third-party services are not built here", name)
		}
		// A pinned tag written in the file itself: not latest, not a
		// variable, a version number.
		if !pinnedTag.MatchString(s.Image) || strings.Contains(s.Image, "latest") {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
		if repo, tag, ok := strings.Cut(s.Image, ":"); ok && (repo == "temporalio/server" || repo == "temporalio/admin-tools") {
			temporalVersions[name] = tag
		}
	}
	// The schema and setup tools must be the server's own version.
	server := temporalVersions["temporal"]
	for name, tag := range temporalVersions {
		if server == "" || tag != server {
			t.Errorf("%s uses Temporal %s, the server %s: want the same version", name, tag, server)
		}
	}
	if len(temporalVersions) != 3 {
		t.Errorf("Temporal images: %v, want the server and two admin-tools jobs", temporalVersions)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindStringSubmatch(string(gomod))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}

	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d FROM lines", len(froms))
	}
	if !strings.Contains(df, "ARG GO_VERSION="+goVersion[1]+"\n") || froms[0][1] != "golang:${GO_VERSION}-bookworm" {
		t.Errorf("builder %q: want golang:${GO_VERSION}-bookworm with GO_VERSION=%s (go.mod)", froms[0][1], goVersion[1])
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("runtime image %q: want gcr.io/distroless/static…:nonroot", final)
	}
	if !regexp.MustCompile(`(?m)^USER nonroot`).MatchString(df) {
		t.Error("no USER nonroot")
	}
	if !strings.Contains(df, "CGO_ENABLED=0") {
		t.Error("not built with CGO_ENABLED=0 (the runtime has no libc)")
	}
	// Every binary the compose file runs, and the health probe, is built,
	// from a package that exists.
	want := map[string]bool{"httpprobe": true}
	for _, bin := range ours {
		want[bin] = true
	}
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`\./([a-z0-9/_-]+)`).FindAllStringSubmatch(df, -1) {
		pkg := m[1]
		if fi, err := os.Stat(filepath.Join(root, pkg, "main.go")); err == nil && !fi.IsDir() {
			built[filepath.Base(pkg)] = true
		}
	}
	for bin := range want {
		if !built[bin] {
			t.Errorf("the Dockerfile does not build %s", bin)
		}
	}
	// .dockerignore keeps secrets and local state out of the build context.
	ign, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".env", ".data", ".git", "bin"} {
		if !slices.Contains(strings.Fields(string(ign)), p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}

// listenPort is the port of a host:port listen address.
func listenPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	return port
}

func TestHealthChecks(t *testing.T) {
	env, _ := generatedEnv(t)
	svcs := resolved(t, loadCompose(t), env)
	probes := map[string]string{ // service → address variable, path
		"worker":  config.EnvHTTPAddr + " /readyz",
		"starter": "STARTER_HTTP_ADDR /readyz/webhooks",
		"sandbox": "SANDBOX_ADDR /_sandbox/healthz",
	}
	for _, name := range longRunning {
		s := svcs[name]
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s: no health check", name)
			continue
		}
		if s.Healthcheck.Retries == 0 || s.Healthcheck.Interval == "" {
			t.Errorf("%s: health check without interval or retries", name)
		}
		p, ok := probes[name]
		if !ok {
			continue
		}
		addrVar, path, _ := strings.Cut(p, " ")
		want := []string{"CMD", "/usr/local/bin/httpprobe", "http://127.0.0.1:" + listenPort(t, s.Environment[addrVar]) + path}
		if !slices.Equal(s.Healthcheck.Test, want) {
			t.Errorf("%s: health check %v, want %v", name, s.Healthcheck.Test, want)
		}
	}
	for _, name := range jobs {
		if svcs[name].Healthcheck != nil {
			t.Errorf("%s: a one-shot job needs no health check", name)
		}
	}
}

func TestDependencies(t *testing.T) {
	c := loadCompose(t)
	want := map[string]map[string]string{
		"temporal-schema": {"postgres": "service_healthy"},
		"temporal":        {"temporal-schema": "service_completed_successfully"},
		"temporal-setup":  {"temporal": "service_healthy"},
		"temporal-ui":     {"temporal": "service_healthy"},
		"migrate":         {"postgres": "service_healthy"},
		"worker":          {"migrate": "service_completed_successfully", "temporal-setup": "service_completed_successfully"},
		"starter":         {"migrate": "service_completed_successfully", "temporal-setup": "service_completed_successfully"},
		"proxy":           {"starter": "service_healthy"},
	}
	for name, s := range c.Services {
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			case d.Condition == "service_completed_successfully" && !target.job():
				t.Errorf("%s waits for %s to complete, which is not a job", name, dep)
			case len(target.Profiles) > 0:
				t.Errorf("%s depends on %s, which is optional (profile)", name, dep)
			}
		}
		w := want[name]
		if w == nil {
			w = map[string]string{}
		}
		if !mapsEqual(got, w) {
			t.Errorf("%s: depends_on %v, want %v", name, got, w)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestPorts(t *testing.T) {
	env, _ := generatedEnv(t)
	svcs := resolved(t, loadCompose(t), env)
	published := map[string]string{}
	for name, s := range svcs {
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q: publish as 127.0.0.1:HOST:CONTAINER (put a proxy in front for the outside)", name, p)
				continue
			}
			if other, dup := published[parts[1]]; dup {
				t.Errorf("host port %s published by %s and %s", parts[1], other, name)
			}
			published[parts[1]] = name
		}
	}
	// The replicas publish no host port, so that `--scale worker=N` and
	// `--scale starter=N` do not collide; they expose where they listen.
	for name, addrVar := range map[string]string{"worker": config.EnvHTTPAddr, "starter": "STARTER_HTTP_ADDR"} {
		s := svcs[name]
		if len(s.Ports) != 0 {
			t.Errorf("%s publishes host port %v: `--scale %s=N` would collide", name, s.Ports, name)
		}
		if !slices.Contains(s.Expose, listenPort(t, s.Environment[addrVar])) {
			t.Errorf("%s: expose %v does not include its %s", name, s.Expose, addrVar)
		}
	}
	// What each service publishes is where it listens.
	for name, addrVar := range map[string]string{"starter": "STARTER_HTTP_ADDR", "sandbox": "SANDBOX_ADDR"} {
		s := svcs[name]
		if host, _, _ := net.SplitHostPort(s.Environment[addrVar]); host != "0.0.0.0" {
			t.Errorf("%s: %s=%s must listen on all interfaces in a container", name, addrVar, s.Environment[addrVar])
		}
	}
	if s, lp := svcs["sandbox"], listenPort(t, svcs["sandbox"].Environment["SANDBOX_ADDR"]); len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":"+lp) {
		t.Errorf("sandbox listens on %s but publishes %v", lp, s.Ports)
	}
	// STARTER_PORT is the proxy's, where its starters frontend listens.
	if p := svcs["proxy"]; len(p.Ports) != 1 || !strings.HasSuffix(p.Ports[0], ":"+haproxyBind(t, loadHAProxy(t), "starters")) ||
		!strings.Contains(p.Ports[0], ":"+env["STARTER_PORT"]+":") {
		t.Errorf("proxy publishes %v, want STARTER_PORT (%s) onto its starters frontend", p.Ports, env["STARTER_PORT"])
	}
	for _, want := range []string{env["STARTER_PORT"], env["TEMPORAL_UI_PORT"], env["TEMPORAL_PORT"], env["SANDBOX_PORT"]} {
		if published[want] == "" {
			t.Errorf("host port %s (from .env) is published by no service", want)
		}
	}
}

// TestRequiredVariables derives what the worker and the starter require from
// their configuration code and checks that the compose file, with an .env
// from .env.example, supplies it.
func TestRequiredVariables(t *testing.T) {
	sets := scanConfigSets(t)
	cfgReqs, starterReqs := sets.shared.reqs, sets.starter.reqs

	// The scan must see the requirements we know of; if the code changes its
	// shape, this test must be taught, not silently pass.
	for _, known := range []string{config.EnvAWDAAppID, config.EnvKeys, config.EnvDatabaseURL,
		config.EnvAWDAHMACSecret + " or " + config.EnvAWDARSAKeyFile} {
		if !slices.ContainsFunc(cfgReqs, func(r requirement) bool { return r.String() == known }) {
			t.Errorf("scanning internal/config did not find the requirement %q (found %v)", known, cfgReqs)
		}
	}
	for _, known := range []string{"STARTER_API_TOKENS", "AWDA_NOTIFY_HMAC_SECRETS or AWDA_NOTIFY_RSA_PUBLIC_KEYS"} {
		if !slices.ContainsFunc(starterReqs, func(r requirement) bool { return r.String() == known }) {
			t.Errorf("scanning starter did not find %s (found %v)", known, starterReqs)
		}
	}

	env, _ := generatedEnv(t)
	svcs := resolved(t, loadCompose(t), env)
	check := func(svc string, reqs []requirement) {
		for _, r := range reqs {
			if !slices.ContainsFunc(r, func(v string) bool { return svcs[svc].Environment[v] != "" }) {
				t.Errorf("%s: requires %s, which the compose file and .env do not supply", svc, r)
			}
		}
	}
	check("worker", cfgReqs)
	check("starter", append(slices.Clone(cfgReqs), starterReqs...))
	check("migrate", []requirement{{config.EnvDatabaseURL}})

	// Every variable set on a container is one its binary reads: a typo
	// would otherwise be ignored and the default used.
	starterVars := maps.Clone(sets.shared.vars)
	maps.Copy(starterVars, sets.starterReads())
	for svc, reads := range map[string]map[string]bool{"worker": sets.shared.vars, "starter": starterVars, "migrate": starterVars, "sandbox": sets.sandbox.vars} {
		for v := range svcs[svc].Environment {
			if !reads[v] {
				t.Errorf("%s: %s is set but %s never reads it", svc, v, ours[svc])
			}
		}
	}

	// And the worker's whole configuration is valid, not just present.
	for _, svc := range []string{"worker", "starter"} {
		e := svcs[svc].Environment
		if _, err := config.LoadFrom(func(k string) string { return e[k] }, false); err != nil {
			t.Errorf("%s: internal/config refuses the compose environment: %v", svc, err)
		}
	}
}

// TestConfigScan holds the scan to the code: the tags it finds in
// internal/config are the variables config.Vars() lists, and every Env*
// constant names a variable a tag declares (the starter's client commands'
// excepted), so that a constant cannot drift from what is read.
func TestConfigScan(t *testing.T) {
	sets := scanConfigSets(t)
	var fromVars []string
	for _, v := range config.Vars() {
		fromVars = append(fromVars, v.Name)
	}
	scannedShared := slices.Sorted(maps.Keys(sets.shared.vars))
	if slices.Sort(fromVars); !slices.Equal(scannedShared, fromVars) {
		t.Errorf("scanned internal/config tags %v, config.Vars() %v", scannedShared, fromVars)
	}
	for name, c := range map[string]struct {
		consts map[string]string
		reads  map[string]bool
	}{"internal/config": {sets.shared.consts, sets.shared.vars}, "starter": {sets.starter.consts, sets.starterReads()}} {
		for v := range envNames(c.consts) {
			if !c.reads[v] {
				t.Errorf("%s: a constant names %s, which no env tag declares", name, v)
			}
		}
	}
	if !sets.sandbox.vars["SANDBOX_ADDR"] || !sets.sandbox.vars["AWDA_HMAC_SECRET"] {
		t.Errorf("the sandbox's variables were not found in its tags: %v", sets.sandbox.vars)
	}
}

func TestEnvExample(t *testing.T) {
	example, order := readEnvFile(t, filepath.Join(root, ".env.example"))
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	refs := referencedVars(string(b))
	for v := range refs {
		if _, ok := example[v]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not list", v)
		}
	}
	for _, v := range order {
		if _, ok := refs[v]; !ok {
			t.Errorf(".env.example lists %s, which docker-compose.yml never uses", v)
		}
	}
	// Secrets are placeholders in the example, and compose refuses to start
	// without them (${VAR:?…}), except the notification secrets, which fall
	// back to AWDA_HMAC_SECRET.
	secret := regexp.MustCompile(`PASSWORD|SECRET|TOKENS|KEYS`)
	for _, v := range order {
		if !secret.MatchString(v) {
			continue
		}
		if val := example[v]; val != "change-me" && !(v == "AWDA_NOTIFY_HMAC_SECRETS" && val == "") {
			t.Errorf(".env.example: %s=%q, want the placeholder change-me", v, val)
		}
		if v != "AWDA_NOTIFY_HMAC_SECRETS" && !strings.Contains(string(b), "${"+v+":?") {
			t.Errorf("docker-compose.yml: a missing %s must stop compose (${%s:?…})", v, v)
		}
	}
	// No secret is written into the compose file itself.
	c := loadCompose(t)
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if secret.MatchString(k) || k == "POSTGRES_PWD" || k == config.EnvDatabaseURL {
				if !strings.Contains(v, "${") {
					t.Errorf("%s: %s is written in the compose file; take it from .env", name, k)
				}
			}
		}
	}
	// .env is ignored by git.
	gi, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(gi)), "/.env") {
		t.Error(".gitignore does not ignore /.env")
	}
}

func TestGeneratedEnvIsFresh(t *testing.T) {
	a, _ := generatedEnv(t)
	b, _ := generatedEnv(t)
	for k, v := range a {
		if v == "change-me" {
			t.Errorf("compose-env.sh left %s a placeholder", k)
		}
		if strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKENS") || k == config.EnvKeys || k == config.EnvAWDAHMACSecret {
			if v == b[k] {
				t.Errorf("compose-env.sh wrote the same %s twice", k)
			}
		}
	}
	if _, err := codec.ParseKeyRing(a[config.EnvKeys]); err != nil {
		t.Errorf("compose-env.sh: %s does not parse: %v", config.EnvKeys, err)
	}
	// It never overwrites an existing file (the key ring of a running stack).
	_, path := generatedEnv(t)
	before, _ := os.ReadFile(path)
	if err := exec.Command("bash", filepath.Join(root, "deploy", "compose-env.sh"), path).Run(); err == nil {
		t.Error("compose-env.sh overwrote an existing file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("compose-env.sh changed an existing file")
	}
}

func TestSearchAttributes(t *testing.T) {
	var want []string
	for _, sa := range workflows.SearchAttributes() {
		want = append(want, sa.Name+"="+sa.Type)
	}
	sort.Strings(want)

	c := loadCompose(t)
	got := strings.Fields(c.Services["temporal-setup"].Environment["AWDAFLOW_SEARCH_ATTRIBUTES"])
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("temporal-setup registers %v, the workflow upserts %v", got, want)
	}

	// make run's launcher starts its dev server through testenv (as the
	// tests do), which registers testenv.SearchAttributes.
	launcher, err := os.ReadFile(filepath.Join(root, "tools", "stack", "stack.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(launcher, []byte("testenv.NewTemporalServer(")) {
		t.Error("tools/stack no longer starts Temporal through testenv.NewTemporalServer: check the search attributes make run registers")
	}
	var inRun []string
	for _, sa := range testenv.SearchAttributes {
		inRun = append(inRun, sa.Name+"="+strings.ReplaceAll(sa.Type.String(), "_", ""))
	}
	sort.Strings(inRun)
	if !slices.Equal(inRun, want) {
		t.Errorf("make run (testenv.SearchAttributes) registers %v, the workflow upserts %v", inRun, want)
	}
}

func TestWiring(t *testing.T) {
	env, _ := generatedEnv(t)
	svcs := resolved(t, loadCompose(t), env)
	worker, starter, sandbox, ui := svcs["worker"].Environment, svcs["starter"].Environment, svcs["sandbox"].Environment, svcs["temporal-ui"].Environment

	// The sandbox and awdaflow agree on the merchant and its secret, and the
	// sandbox pushes to the starter's webhook routes.
	for _, k := range []string{config.EnvAWDAAppID, config.EnvAWDAHMACSecret} {
		if sandbox[k] == "" || sandbox[k] != worker[k] || sandbox[k] != starter[k] {
			t.Errorf("%s differs between the sandbox and awdaflow", k)
		}
	}
	// Through the proxy, which spreads them over the starter replicas.
	starterBase := "http://proxy:" + haproxyBind(t, loadHAProxy(t), "starters")
	if got := sandbox["SANDBOX_LOAN_WEBHOOK_URL"]; got != starterBase+webhook.PathLoanStatus {
		t.Errorf("SANDBOX_LOAN_WEBHOOK_URL=%s, want %s", got, starterBase+webhook.PathLoanStatus)
	}
	if got := sandbox["SANDBOX_AUTH_WEBHOOK_URL"]; got != starterBase+webhook.PathAuthorization {
		t.Errorf("SANDBOX_AUTH_WEBHOOK_URL=%s, want %s", got, starterBase+webhook.PathAuthorization)
	}
	if got, want := env[config.EnvAWDABaseURL], "http://sandbox:"+listenPort(t, sandbox["SANDBOX_ADDR"]); got != want {
		t.Errorf(".env.example: AWDA_BASE_URL=%s, want the sandbox at %s", got, want)
	}
	// The starter's notification verifier gets the merchant secret unless told otherwise.
	if starter["AWDA_NOTIFY_HMAC_SECRETS"] != env[config.EnvAWDAHMACSecret] {
		t.Error("AWDA_NOTIFY_HMAC_SECRETS does not default to AWDA_HMAC_SECRET")
	}

	// Temporal: everyone dials the temporal service, in one namespace.
	for name, e := range map[string]map[string]string{"worker": worker, "starter": starter, "temporal-ui": ui, "temporal-setup": svcs["temporal-setup"].Environment} {
		if e["TEMPORAL_ADDRESS"] != "temporal:7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS=%s, want temporal:7233", name, e["TEMPORAL_ADDRESS"])
		}
	}
	ns := env["TEMPORAL_NAMESPACE"]
	for name, v := range map[string]string{"worker": worker[config.EnvTemporalNamespace], "starter": starter[config.EnvTemporalNamespace],
		"temporal-setup": svcs["temporal-setup"].Environment["TEMPORAL_NAMESPACE"], "temporal-ui": ui["TEMPORAL_DEFAULT_NAMESPACE"]} {
		if v != ns {
			t.Errorf("%s: namespace %q, want %q", name, v, ns)
		}
	}

	// The UI decodes through the starter's codec server, which lets the UI's
	// origin in.
	ep, err := url.Parse(ui["TEMPORAL_CODEC_ENDPOINT"])
	if err != nil || ep.Path != codec.PathPrefix || ep.Port() != env["STARTER_PORT"] {
		t.Errorf("TEMPORAL_CODEC_ENDPOINT=%s, want http://localhost:%s%s", ui["TEMPORAL_CODEC_ENDPOINT"], env["STARTER_PORT"], codec.PathPrefix)
	}
	if !slices.Contains(strings.Split(starter["STARTER_CODEC_ORIGINS"], ","), "http://localhost:"+env["TEMPORAL_UI_PORT"]) {
		t.Errorf("STARTER_CODEC_ORIGINS=%s does not let the UI (http://localhost:%s) in", starter["STARTER_CODEC_ORIGINS"], env["TEMPORAL_UI_PORT"])
	}

	// Both binaries use the application's role and database, which the
	// PostgreSQL first-start script creates, never the superuser.
	for name, e := range map[string]map[string]string{"worker": worker, "starter": starter, "migrate": svcs["migrate"].Environment} {
		u, err := url.Parse(e[config.EnvDatabaseURL])
		if err != nil {
			t.Errorf("%s: DATABASE_URL does not parse", name)
			continue
		}
		pw, _ := u.User.Password()
		if u.Host != "postgres:5432" || u.User.Username() != "awdaflow" || pw != env["AWDAFLOW_DB_PASSWORD"] || u.Path != "/awdaflow" {
			t.Errorf("%s: DATABASE_URL is not awdaflow@postgres:5432/awdaflow with AWDAFLOW_DB_PASSWORD", name)
		}
	}
	if e := svcs["postgres"].Environment; e["AWDAFLOW_DB_PASSWORD"] != env["AWDAFLOW_DB_PASSWORD"] {
		t.Error("postgres does not get AWDAFLOW_DB_PASSWORD for its first-start script")
	}
	initdb, err := os.ReadFile(filepath.Join(root, "deploy/postgres/initdb.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"CREATE ROLE awdaflow LOGIN", "CREATE DATABASE awdaflow OWNER awdaflow"} {
		if !bytes.Contains(initdb, []byte(stmt)) {
			t.Errorf("deploy/postgres/initdb.sh does not %s", stmt)
		}
	}
	// Migrations run once, in the migrate job; the long-running ones skip them.
	for name, e := range map[string]map[string]string{"worker": worker, "starter": starter} {
		if e[config.EnvDatabaseMigrate] != "false" {
			t.Errorf("%s: DATABASE_MIGRATE=%q, want false (the migrate job applies them)", name, e[config.EnvDatabaseMigrate])
		}
	}
	if m := svcs["migrate"]; !slices.Equal(m.Command, []string{"migrate"}) {
		t.Errorf("migrate: command %v, want [migrate]", m.Command)
	}
}

func TestMountedFilesExist(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s: volume %s is not declared", name, src)
				}
				continue
			}
			fi, err := os.Stat(filepath.Join(root, src))
			if err != nil {
				t.Errorf("%s: mounts %s: %v", name, src, err)
				continue
			}
			if strings.HasSuffix(src, ".sh") && fi.Mode()&0o111 == 0 {
				t.Errorf("%s: %s is not executable", name, src)
			}
		}
		if len(s.Entrypoint) == 2 && s.Entrypoint[0] == "/bin/sh" {
			script := s.Entrypoint[1]
			if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.Contains(v, ":"+script+":") }) {
				t.Errorf("%s runs %s, which it does not mount", name, script)
			}
		}
	}
	// The shell scripts at least parse.
	for _, sh := range []string{"deploy/temporal/schema.sh", "deploy/temporal/setup.sh", "deploy/postgres/initdb.sh"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(root, sh)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", sh, err, out)
		}
	}
	for _, sh := range []string{"tools/scripts/screenshot.sh", "deploy/compose-env.sh"} {
		if out, err := exec.Command("bash", "-n", filepath.Join(root, sh)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", sh, err, out)
		}
	}
}

// TestDockerComposeConfig runs docker compose's own validation when it is
// installed (it needs no engine for `config`).
func TestDockerComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed")
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("the docker compose plugin is not installed")
	}
	_, envFile := generatedEnv(t)
	for _, args := range [][]string{{}, {"--profile", "sandbox"}} {
		cmd := exec.Command("docker", append(append([]string{"compose", "--env-file", envFile, "-f", filepath.Join(root, "docker-compose.yml")}, args...), "config", "--quiet")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose %v config: %v\n%s", args, err, out)
		}
	}
}

// Ops signal loans from the UI; the UI offers no terminate, cancel, reset or
// batch action, which would end a loan without AWDA or the workflow's own
// rules (docs/operations.md, "Who may end a loan").
func TestUICannotEndLoans(t *testing.T) {
	env, _ := generatedEnv(t)
	ui := resolved(t, loadCompose(t), env)["temporal-ui"].Environment
	for _, k := range []string{"TEMPORAL_WORKFLOW_TERMINATE_DISABLED", "TEMPORAL_WORKFLOW_CANCEL_DISABLED",
		"TEMPORAL_WORKFLOW_RESET_DISABLED", "TEMPORAL_BATCH_ACTIONS_DISABLED"} {
		if ui[k] != "true" {
			t.Errorf("temporal-ui: %s=%q, want true", k, ui[k])
		}
	}
	if ui["TEMPORAL_WORKFLOW_SIGNAL_DISABLED"] == "true" {
		t.Error("temporal-ui: signals are disabled, but ops retry and abandon loans by signal")
	}
}
