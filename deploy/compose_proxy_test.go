package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// The starters scale behind the compose file's proxy (HAProxy,
// deploy/haproxy/haproxy.cfg): these tests read its config as HAProxy
// would read its sections and check it against the compose file and the
// code. `docker compose config` cannot run here (no engine), nor HAProxy.

const haproxyConfig = "deploy/haproxy/haproxy.cfg"

// haproxyCfg maps a section ("frontend starters", "backend api",
// "resolvers docker", …) to its directives, each split into fields.
type haproxyCfg map[string][][]string

func loadHAProxy(t *testing.T) haproxyCfg {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, haproxyConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg := haproxyCfg{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if line[0] != ' ' && line[0] != '\t' {
			section = strings.Join(f, " ")
			cfg[section] = [][]string{}
			continue
		}
		if section == "" {
			t.Fatalf("%s: %q outside any section", haproxyConfig, line)
		}
		cfg[section] = append(cfg[section], f)
	}
	return cfg
}

// directive is the first directive of section that starts with words (nil
// if none).
func (c haproxyCfg) directive(section string, words ...string) []string {
	for _, d := range c[section] {
		if len(d) >= len(words) && slices.Equal(d[:len(words)], words) {
			return d
		}
	}
	return nil
}

// haproxyBind is the port a frontend binds (":8080").
func haproxyBind(t *testing.T, c haproxyCfg, frontend string) string {
	t.Helper()
	d := c.directive("frontend "+frontend, "bind")
	if len(d) < 2 || !strings.HasPrefix(d[1], ":") {
		t.Fatalf("%s: frontend %s binds %v, want bind :PORT", haproxyConfig, frontend, d)
	}
	return strings.TrimPrefix(d[1], ":")
}

// option returns the value after key in a server line ("inter 1s").
func option(d []string, key string) string {
	if i := slices.Index(d, key); i >= 0 && i+1 < len(d) {
		return d[i+1]
	}
	return ""
}

// `docker compose up --scale starter=N`: every replica found by name,
// pushes routed by webhook readiness (PostgreSQL only), the rest by API
// readiness (Temporal too), a stopped replica noticed within its drain
// delay, and no API call cut short by the proxy.
func TestStarterScalesBehindTheProxy(t *testing.T) {
	env, _ := generatedEnv(t)
	svcs := resolved(t, loadCompose(t), env)
	c := loadHAProxy(t)
	starter := svcs["starter"]
	port := listenPort(t, starter.Environment["STARTER_HTTP_ADDR"])

	p := svcs["proxy"]
	if !slices.Contains(p.Volumes, "./"+haproxyConfig+":/usr/local/etc/haproxy/haproxy.cfg:ro") {
		t.Errorf("proxy: volumes %v do not mount %s as HAProxy's config", p.Volumes, haproxyConfig)
	}
	uri := c.directive("frontend health", "monitor-uri")
	if want := []string{"CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:" + haproxyBind(t, c, "health") + option(uri, "monitor-uri")}; p.Healthcheck == nil ||
		len(uri) != 2 || !slices.Equal(p.Healthcheck.Test, want) {
		t.Errorf("proxy: health check %v, want %v", p.Healthcheck, want)
	}

	// Pushes to the webhooks backend, everything else to the API's.
	acl := c.directive("frontend starters", "acl", "push", "path_beg")
	if len(acl) != 4 || !slices.Equal(c.directive("frontend starters", "use_backend", "webhooks"), []string{"use_backend", "webhooks", "if", "push"}) ||
		!slices.Equal(c.directive("frontend starters", "default_backend"), []string{"default_backend", "api"}) {
		t.Fatalf("frontend starters: want acl push path_beg PREFIX, use_backend webhooks if push, default_backend api: %v", c["frontend starters"])
	}
	for _, path := range []string{webhook.PathLoanStatus, webhook.PathAuthorization} {
		if !strings.HasPrefix(path, acl[3]) {
			t.Errorf("the webhook route %s does not match the proxy's push prefix %s", path, acl[3])
		}
	}
	for _, route := range []string{"/v1/applications", "/codec/decode"} {
		if strings.HasPrefix(route, acl[3]) {
			t.Errorf("%s would be routed as a push", route)
		}
	}

	drain, err := time.ParseDuration(starter.Environment["STARTER_DRAIN_DELAY"])
	if err != nil {
		t.Fatalf("starter: STARTER_DRAIN_DELAY=%q: %v", starter.Environment["STARTER_DRAIN_DELAY"], err)
	}
	nameserver := c.directive("resolvers docker", "nameserver")
	if len(nameserver) != 3 || nameserver[2] != "127.0.0.11:53" {
		t.Errorf("resolvers docker: %v, want Docker's embedded DNS 127.0.0.11:53 (re-resolved, so that scaling needs no reload)", nameserver)
	}
	for backend, ready := range map[string]string{"webhooks": api.PathReadyWebhooks, "api": api.PathReadyAPI} {
		sec := "backend " + backend
		if got := c.directive(sec, "option", "httpchk"); !slices.Equal(got, []string{"option", "httpchk", "GET", ready}) {
			t.Errorf("%s: health check %v, want GET %s", sec, got, ready)
		}
		tmpl := c.directive(sec, "server-template")
		if len(tmpl) != 4 || tmpl[3] != "starter:"+port {
			t.Errorf("%s: %v, want server-template NAME COUNT starter:%s (every replica of the service)", sec, tmpl, port)
		}
		def := c.directive(sec, "default-server")
		if !slices.Contains(def, "check") || option(def, "resolvers") != "docker" || option(def, "init-addr") != "none" {
			t.Errorf("%s: default-server %v, want check, resolvers docker, init-addr none", sec, def)
			continue
		}
		inter, err := time.ParseDuration(option(def, "inter"))
		fall := len(option(def, "fall")) == 1 && option(def, "fall")[0] >= '1' && option(def, "fall")[0] <= '9'
		if err != nil || !fall {
			t.Errorf("%s: default-server %v, want inter DURATION fall N", sec, def)
			continue
		}
		// A stopping replica answers 503 for its drain delay while it
		// still serves: the proxy must stop sending before it closes.
		if notice := inter * time.Duration(option(def, "fall")[0]-'0'); notice >= drain {
			t.Errorf("%s: notices a stopping replica after %s (inter × fall), not within STARTER_DRAIN_DELAY %s", sec, notice, drain)
		}
	}
	server, err := time.ParseDuration(option(c.directive("defaults", "timeout", "server"), "server"))
	if err != nil || server <= api.DefaultUpdateTimeout {
		t.Errorf("defaults: timeout server %s, want above the API's longest wait %s", server, api.DefaultUpdateTimeout)
	}
}
