package k8s_test

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/awdaflow/awdaflow/internal/config"
)

// envVar is one variable a container gets, and where from.
type envVar struct {
	name      string
	value     string                    // a literal, or a ConfigMap's value
	configMap string                    // set when it comes from a ConfigMap (envFrom)
	secret    *corev1.SecretKeySelector // set when it comes from a Secret
}

// containerEnv resolves a container's environment: its ConfigMaps (envFrom,
// looked up in the rendered manifests) and its env entries. Anything else
// (envFrom a Secret, whose keys no one can see here; fieldRef; a missing
// ConfigMap; a name set twice, where the later silently wins) is an error.
func containerEnv(t *testing.T, m *manifests, where string, c corev1.Container) map[string]envVar {
	t.Helper()
	out := map[string]envVar{}
	set := func(v envVar) {
		if prev, dup := out[v.name]; dup {
			t.Errorf("%s: %s is set twice (%s and %s): one silently wins", where, v.name, describe(prev), describe(v))
		}
		out[v.name] = v
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || ef.SecretRef != nil || ef.Prefix != "" {
			t.Errorf("%s: envFrom %+v: only whole ConfigMaps (secrets one key at a time, by secretKeyRef, so that each is checked)", where, ef)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %s is not in the manifests", where, ef.ConfigMapRef.Name)
			continue
		}
		for _, k := range sortedKeys(cm.Data) {
			set(envVar{name: k, value: cm.Data[k], configMap: cm.Name})
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(envVar{name: e.Name, value: e.Value})
		case e.ValueFrom.SecretKeyRef != nil && e.Value == "":
			set(envVar{name: e.Name, secret: e.ValueFrom.SecretKeyRef})
		default:
			t.Errorf("%s: %s: only literal values and secretKeyRef are used here; teach this test", where, e.Name)
		}
	}
	return out
}

func describe(v envVar) string {
	switch {
	case v.secret != nil:
		return "Secret " + v.secret.Name
	case v.configMap != "":
		return "ConfigMap " + v.configMap
	}
	return "env"
}

// commandOf is a container's command line (command + args).
func commandOf(c corev1.Container) []string { return slices.Concat(c.Command, c.Args) }

// secretLooking catches a secret that no struct marks (a new variable, a
// standard one): its value must not be written either.
var secretLooking = regexp.MustCompile(`SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY$|CREDENTIAL|DATABASE_URL|OTLP_HEADERS`)

// TestEnvironment: every variable a container gets is one its command reads
// (a typo would be ignored and the default used) or a standard one; a
// secret is never a literal, in env or in a ConfigMap, always a
// secretKeyRef; what the code requires is there; and the shared
// configuration passes internal/config's own checks.
func TestEnvironment(t *testing.T) {
	sets := scanKnobSets(t)
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, w := range m.workloads() {
			for _, c := range w.template.Spec.Containers {
				where := fmt.Sprintf("%s: %s %s, container %s", overlay, w.kind, w.name, c.Name)
				reads := sets.reads(commandOf(c))
				if len(reads) == 0 {
					t.Errorf("%s: command %v is not one this test knows what it reads", where, commandOf(c))
					continue
				}
				env := containerEnv(t, m, where, c)
				checkEnvNames(t, where, env, reads)
				checkRequired(t, where, env, reads)
			}
		}
	}
}

func checkEnvNames(t *testing.T, where string, env map[string]envVar, reads map[string]knob) {
	t.Helper()
	for _, name := range sortedKeys(env) {
		v := env[name]
		k, known := reads[name]
		if !known && !slices.Contains(standardEnv, name) {
			t.Errorf("%s: %s is set but never read (not a knob of internal/config or the starter, nor standard)", where, name)
		}
		if (k.secret || secretLooking.MatchString(name)) && v.secret == nil {
			t.Errorf("%s: %s is a secret, written as a literal (%s); take it from a Secret by secretKeyRef", where, name, describe(v))
		}
		if v.secret != nil && !k.secret {
			t.Errorf("%s: %s comes from a Secret but the code does not hold it as a Secret: a literal would do, or the config is wrong", where, name)
		}
		if v.secret != nil && v.secret.Key != name {
			t.Errorf("%s: %s comes from key %s of %s; name the key after the variable", where, name, v.secret.Key, v.secret.Name)
		}
	}
}

func checkRequired(t *testing.T, where string, env map[string]envVar, reads map[string]knob) {
	t.Helper()
	for _, name := range sortedKeys(reads) {
		k := reads[name]
		v, ok := env[name]
		if k.required && !ok {
			t.Errorf("%s: the code requires %s, which the container does not get", where, name)
		}
		if k.required && ok && v.secret != nil && v.secret.Optional != nil && *v.secret.Optional {
			t.Errorf("%s: %s is required by the code but its secretKeyRef is optional", where, name)
		}
	}
	// The either-or requirements internal/config checks in code, not tags.
	if _, shared := reads[config.EnvAWDAAppID]; shared {
		_, hmac := env[config.EnvAWDAHMACSecret]
		_, rsa := env[config.EnvAWDARSAKeyFile]
		if hmac == rsa {
			t.Errorf("%s: want exactly one of %s and %s", where, config.EnvAWDAHMACSecret, config.EnvAWDARSAKeyFile)
		}
	}
}

// sampleSecrets stand in for the Secrets' values when the configuration is
// loaded: valid, and never real.
func sampleSecrets() map[string]string {
	return map[string]string{
		config.EnvDatabaseURL:    "postgres://awdaflow:sample@postgres.example:5432/awdaflow?sslmode=verify-full",
		config.EnvKeys:           "k1=" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		config.EnvAWDAHMACSecret: "sample-merchant-secret",
	}
}

// getenv is a container's environment as its process sees it, with sample
// values for the Secrets it refers to (an optional one left unset).
func getenv(env map[string]envVar) func(string) string {
	samples := sampleSecrets()
	return func(k string) string {
		v, ok := env[k]
		switch {
		case !ok:
			return ""
		case v.secret == nil:
			return v.value
		case v.secret.Optional != nil && *v.secret.Optional:
			return ""
		}
		return samples[k]
	}
}

// loadShared loads internal/config from a container's environment, as the
// worker and `starter serve` do at start-up.
func loadShared(t *testing.T, where string, env map[string]envVar) *config.Config {
	t.Helper()
	cfg, err := config.LoadFrom(getenv(env), false)
	if err != nil {
		t.Fatalf("%s: internal/config refuses the environment: %v", where, err)
	}
	return cfg
}

// TestSharedConfigLoads: the worker's, the starter's and the replay gate's
// environments pass internal/config's checks, with every value the
// manifests write; the long-running ones skip migrations (the Job runs
// them); every overlay sets AWDA's merchant; the replay gate runs with the
// worker's very environment.
func TestSharedConfigLoads(t *testing.T) {
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, w := range m.workloads() {
			c := w.template.Spec.Containers[0]
			if slices.Equal(commandOf(c), []string{"/usr/local/bin/starter", "migrate"}) {
				continue
			}
			where := overlay + ": " + w.name
			env := containerEnv(t, m, where, c)
			cfg := loadShared(t, where, env)
			if cfg.Database.Migrate {
				t.Errorf("%s: %s is not false: the migrate Job applies the migrations", where, config.EnvDatabaseMigrate)
			}
			if cfg.AWDA.AppID == "set-in-overlay" || cfg.AWDA.AppID == "" {
				t.Errorf("%s: %s=%q: the overlay must set the merchant id", where, config.EnvAWDAAppID, cfg.AWDA.AppID)
			}
			if cfg.Log.Format != "json" {
				t.Errorf("%s: LOG_FORMAT %q, want json (log collectors parse it)", where, cfg.Log.Format)
			}
		}
		worker, gate := m.deployments["awdaflow-worker"], m.jobs["awdaflow-replay-gate"]
		if worker == nil || gate == nil {
			t.Fatalf("%s: want the Deployment awdaflow-worker and the Job awdaflow-replay-gate", overlay)
		}
		wc, gc := worker.Spec.Template.Spec.Containers[0], gate.Spec.Template.Spec.Containers[0]
		if !reflect.DeepEqual(wc.Env, gc.Env) || !reflect.DeepEqual(wc.EnvFrom, gc.EnvFrom) || wc.Image != gc.Image {
			t.Errorf("%s: the replay gate's image or environment differs from the worker's: it must replay with what will run", overlay)
		}
		if !slices.Equal(commandOf(gc), []string{"/usr/local/bin/worker", "replay-gate"}) {
			t.Errorf("%s: the replay gate runs %v, want worker replay-gate", overlay, commandOf(gc))
		}
	}
}

// listenPort checks a listen address (all interfaces, in a pod) and
// returns its port.
func listenPort(t *testing.T, where, addr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: listen address %q: %v", where, addr, err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("%s: listens on %q; in a pod it must listen on all interfaces (0.0.0.0)", where, addr)
	}
	return port
}

// duration reads a duration variable from env, or its default.
func duration(t *testing.T, where string, env map[string]envVar, k knob) time.Duration {
	t.Helper()
	s := k.def
	if v, ok := env[k.name]; ok {
		s = v.value
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", where, k.name, s, err)
	}
	return d
}

// TestSecretsAreDocumented: every Secret the manifests refer to (by
// secretKeyRef, or as an Ingress's certificate) is listed, key by key, in
// its overlay's README.md, optional exactly when the README says the pods
// start without it; and the README lists nothing the manifests do not use.
func TestSecretsAreDocumented(t *testing.T) {
	row := regexp.MustCompile("^\\| `([a-z0-9-]+)` \\| `([A-Za-z0-9_.-]+)` \\| [^|]+ \\| (yes|no)\\b")
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		readme := filepath.Join(k8sDir, "overlays", overlay, "README.md")
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatalf("%s: each overlay documents its Secrets in README.md: %v", overlay, err)
		}
		documented := map[string]bool{} // "secret/key" → required
		for _, line := range strings.Split(string(b), "\n") {
			if g := row.FindStringSubmatch(line); g != nil {
				documented[g[1]+"/"+g[2]] = g[3] == "yes"
			}
		}
		used := usedSecrets(t, m)
		for _, ref := range sortedKeys(used) {
			required, ok := documented[ref]
			switch {
			case !ok:
				t.Errorf("%s: the manifests use Secret key %s, which %s does not list", overlay, ref, readme)
			case required != used[ref]:
				t.Errorf("%s: %s: README says required=%v, the manifests' reference optional=%v", overlay, ref, required, !used[ref])
			}
		}
		for _, ref := range sortedKeys(documented) {
			if _, ok := used[ref]; !ok {
				t.Errorf("%s: %s lists Secret key %s, which nothing uses", overlay, readme, ref)
			}
		}
	}
}

// usedSecrets maps every "secret/key" the manifests use to whether it is
// required (an optional secretKeyRef is not; disagreeing references are an
// error).
func usedSecrets(t *testing.T, m *manifests) map[string]bool {
	t.Helper()
	used := map[string]bool{}
	note := func(ref string, required bool) {
		if prev, ok := used[ref]; ok && prev != required {
			t.Errorf("%s: %s is optional in one reference and required in another", m.overlay, ref)
		}
		used[ref] = required
	}
	for _, w := range m.workloads() {
		for _, c := range w.template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					r := e.ValueFrom.SecretKeyRef
					note(r.Name+"/"+r.Key, r.Optional == nil || !*r.Optional)
				}
			}
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Secret != nil {
				t.Errorf("%s: %s mounts Secret %s: teach this test (and the README) which keys", m.overlay, w.name, v.Secret.SecretName)
			}
		}
	}
	for _, ing := range m.ingresses {
		for _, tls := range ing.Spec.TLS {
			note(tls.SecretName+"/tls.crt", true)
			note(tls.SecretName+"/tls.key", true)
		}
	}
	return used
}
