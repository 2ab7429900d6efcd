package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/config"
)

// files creates empty files named names in a temporary directory and
// returns their paths (LoadFrom only stats them).
func files(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// environ is the minimal valid environment plus overrides, as os.Environ
// lists it, for LoadEnviron.
func environ(overrides map[string]string) []string {
	getenv := env(overrides)
	var out []string
	for _, name := range append(slices.Clone(allVars), "TEMPORAL_GRPC_META_X_TENANT", "TEMPORAL_GRPC_META_X_TRACE") {
		if v := getenv(name); v != "" {
			out = append(out, name+"="+v)
		}
	}
	for k, v := range overrides {
		if strings.HasPrefix(k, config.TemporalGRPCMetaPrefix) && !slices.Contains(out, k+"="+v) {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	ce, ok := err.(*config.Error)
	if !ok {
		t.Fatalf("error %v (%T), want *config.Error", err, err)
	}
	return ce.Problems
}

// Each standard variable lands where the SDK's envconfig puts it.
func TestTemporalStandardVariables(t *testing.T) {
	p := files(t, "cert.pem", "key.pem")
	c, err := config.LoadEnviron(environ(map[string]string{
		config.EnvTemporalAddress:                  "ns.acct.tmprl.cloud:7233",
		config.EnvTemporalNamespace:                "ns.acct",
		config.EnvTemporalTLSClientCert:            p[0],
		config.EnvTemporalTLSClientKey:             p[1],
		config.EnvTemporalTLSServerCAD:             "-----BEGIN CERTIFICATE-----",
		config.EnvTemporalTLSServer:                "frontend.internal",
		config.EnvTemporalAuthority:                "authority.internal",
		config.TemporalGRPCMetaPrefix + "X_TENANT": "loans",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	pr := c.Temporal.Profile.Get()
	if pr.Address != "ns.acct.tmprl.cloud:7233" || pr.Namespace != "ns.acct" || c.Temporal.Address != pr.Address || c.Temporal.Namespace != pr.Namespace {
		t.Errorf("address/namespace: profile %q %q, config %q %q", pr.Address, pr.Namespace, c.Temporal.Address, c.Temporal.Namespace)
	}
	if pr.TLS == nil || pr.TLS.ClientCertPath != p[0] || pr.TLS.ClientKeyPath != p[1] || string(pr.TLS.ServerCACertData) != "-----BEGIN CERTIFICATE-----" ||
		pr.TLS.ServerName != "frontend.internal" || pr.TLS.Disabled || pr.TLS.DisableHostVerification {
		t.Errorf("tls = %+v", pr.TLS)
	}
	if pr.Authority != "authority.internal" || pr.GRPCMeta["x-tenant"] != "loans" || len(pr.GRPCMeta) != 1 {
		t.Errorf("authority %q, grpc meta %v", pr.Authority, pr.GRPCMeta)
	}
	if !c.Temporal.TLS() || !c.Temporal.MTLS() || c.Temporal.HasAPIKey() || len(c.Temporal.Deprecated) != 0 {
		t.Errorf("tls %t mtls %t api key %t deprecated %v", c.Temporal.TLS(), c.Temporal.MTLS(), c.Temporal.HasAPIKey(), c.Temporal.Deprecated)
	}

	// An API key turns TLS on; TEMPORAL_TLS=false turns it off whatever else is set.
	c, err = config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKey: " " + apiKey + "\n"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if pr := c.Temporal.Profile.Get(); pr.APIKey != apiKey || pr.TLS != nil || !c.Temporal.TLS() || !c.Temporal.HasAPIKey() {
		t.Errorf("API key: trimmed %t, tls %t", pr.APIKey == apiKey, c.Temporal.TLS())
	}
	c, err = config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKey: apiKey, config.EnvTemporalTLS: "false", config.EnvTemporalTLSServer: "x"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.TLS() || !c.Temporal.Profile.Get().TLS.Disabled {
		t.Error("TEMPORAL_TLS=false left TLS on")
	}
}

// The deprecated names still work, are reported for the warning with
// their replacement, and clash with a replacement set to something else.
func TestTemporalDeprecatedNames(t *testing.T) {
	p := files(t, "cert.pem", "key.pem", "ca.pem", "other.pem")
	cert, key, ca, other := p[0], p[1], p[2], p[3]
	c, err := config.LoadFrom(env(map[string]string{
		config.EnvTemporalTLSCert: cert, config.EnvTemporalTLSKey: key, config.EnvTemporalTLSCA: ca,
		// The same value under both names is no conflict.
		config.EnvTemporalTLSServerCA: ca,
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Temporal.Profile.Get().TLS
	if tl == nil || tl.ClientCertPath != cert || tl.ClientKeyPath != key || tl.ServerCACertPath != ca {
		t.Fatalf("tls = %+v", tl)
	}
	want := []config.Rename{
		{Old: "TEMPORAL_TLS_CERT", New: "TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{Old: "TEMPORAL_TLS_KEY", New: "TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{Old: "TEMPORAL_TLS_CA", New: "TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
	}
	if !slices.Equal(c.Temporal.Deprecated, want) {
		t.Errorf("deprecated = %v, want %v", c.Temporal.Deprecated, want)
	}

	_, err = config.LoadFrom(env(map[string]string{
		config.EnvTemporalTLSCert: cert, config.EnvTemporalTLSClientCert: other, config.EnvTemporalTLSClientKey: key,
	}), false)
	got := problems(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0], "TEMPORAL_TLS_CERT and TEMPORAL_TLS_CLIENT_CERT_PATH: both set, to different files") {
		t.Errorf("problems = %q", got)
	}
	// A deprecated path against a standard data variable: the message
	// names the variable actually set.
	_, err = config.LoadFrom(env(map[string]string{
		config.EnvTemporalTLSCA: ca, config.EnvTemporalTLSServerCAD: "pem",
	}), false)
	if got := problems(t, err); len(got) != 1 || got[0] != "TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_CA_CERT_DATA: set one, not both" {
		t.Errorf("problems = %q", got)
	}
}

const profileTOML = `
[profile.default]
address = "localhost:7233"
namespace = "default"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"

[profile.cloud.tls]
client_cert_path = "%s"
client_key_path = "%s"
server_name = "ns.acct.tmprl.cloud"

[profile.cloud.grpc_meta]
x-tenant = "from-file"
x-region = "ap-southeast-3"
`

// A TOML profile file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), with the
// variables over it.
func TestTemporalProfileFile(t *testing.T) {
	p := files(t, "cert.pem", "key.pem")
	path := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(path, fmt.Appendf(nil, profileTOML, p[0], p[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadEnviron(environ(map[string]string{
		config.EnvTemporalConfigFile: path,
		config.EnvTemporalProfile:    "cloud",
		// A variable beats the file; the file's other settings stay.
		config.EnvTemporalNamespace:                "other.acct",
		config.TemporalGRPCMetaPrefix + "X_TENANT": "from-env",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	pr := c.Temporal.Profile.Get()
	if c.Temporal.Address != "ns.acct.tmprl.cloud:7233" || c.Temporal.Namespace != "other.acct" {
		t.Errorf("address %q namespace %q", c.Temporal.Address, c.Temporal.Namespace)
	}
	if pr.TLS == nil || pr.TLS.ClientCertPath != p[0] || pr.TLS.ClientKeyPath != p[1] || pr.TLS.ServerName != "ns.acct.tmprl.cloud" || !c.Temporal.MTLS() {
		t.Errorf("tls = %+v", pr.TLS)
	}
	if pr.GRPCMeta["x-tenant"] != "from-env" || pr.GRPCMeta["x-region"] != "ap-southeast-3" {
		t.Errorf("grpc meta = %v", pr.GRPCMeta)
	}

	// The default profile when TEMPORAL_PROFILE is unset.
	c, err = config.LoadFrom(env(map[string]string{config.EnvTemporalConfigFile: path}), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.Address != "localhost:7233" || c.Temporal.TLS() {
		t.Errorf("default profile: address %q tls %t", c.Temporal.Address, c.Temporal.TLS())
	}

	// A profile that is not there, a file that is not there, a key the SDK
	// does not know: each an error naming the variables.
	typo := filepath.Join(t.TempDir(), "typo.toml")
	if err := os.WriteFile(typo, []byte("[profile.default]\nadress = \"x:1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	halfPair := filepath.Join(t.TempDir(), "half.toml")
	if err := os.WriteFile(halfPair, fmt.Appendf(nil, "[profile.default.tls]\nclient_cert_path = %q\n", p[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{config.EnvTemporalConfigFile: halfPair}, "TEMPORAL_TLS_CLIENT_CERT_PATH (profile file) and TEMPORAL_TLS_CLIENT_KEY_PATH: set both"},
		{map[string]string{config.EnvTemporalConfigFile: path, config.EnvTemporalProfile: "staging"}, "TEMPORAL_CONFIG_FILE or TEMPORAL_PROFILE: unable to find profile staging"},
		{map[string]string{config.EnvTemporalConfigFile: path + ".missing"}, "TEMPORAL_CONFIG_FILE: " + path + ".missing: no such file"},
		{map[string]string{config.EnvTemporalConfigFile: typo}, "TEMPORAL_CONFIG_FILE or TEMPORAL_PROFILE: failed parsing config"},
	} {
		_, err := config.LoadFrom(env(tc.env), false)
		if got := problems(t, err); len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%v: problems %q, want the first to start with %q", tc.env, got, tc.want)
		}
	}
}

// The API key as a value and as a file are exclusive; the file must exist.
func TestTemporalAPIKeyFile(t *testing.T) {
	p := files(t, "api-key")
	c, err := config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKeyFile: p[0]}), false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Temporal.HasAPIKey() || !c.Temporal.TLS() || c.Temporal.APIKeyFile != p[0] {
		t.Errorf("api key file %q: has key %t, tls %t", c.Temporal.APIKeyFile, c.Temporal.HasAPIKey(), c.Temporal.TLS())
	}
	_, err = config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKeyFile: p[0], config.EnvTemporalAPIKey: apiKey}), false)
	if got := problems(t, err); len(got) != 1 || got[0] != "TEMPORAL_API_KEY and TEMPORAL_API_KEY_FILE: set one, not both" {
		t.Errorf("problems = %q", got)
	}
	_, err = config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKeyFile: p[0] + ".missing"}), false)
	if got := problems(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "TEMPORAL_API_KEY_FILE: ") {
		t.Errorf("problems = %q", got)
	}
}

// The profile holds secrets (API key, client key data, gRPC metadata); no
// way of printing the configuration shows them.
func TestTemporalProfileNeverPrintsSecrets(t *testing.T) {
	const keyData, token = "-----BEGIN PRIVATE KEY-----secret-key-material", "bearer-token-5d1e"
	c, err := config.LoadEnviron(environ(map[string]string{
		config.EnvTemporalAPIKey:                  apiKey,
		config.EnvTemporalTLSClientCertD:          "-----BEGIN CERTIFICATE-----",
		config.EnvTemporalTLSClientKeyD:           keyData,
		config.TemporalGRPCMetaPrefix + "X_TRACE": token,
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.Profile.Get().GRPCMeta["x-trace"] != token {
		t.Fatal("the metadata was not read: the test would prove nothing")
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c), "json": string(js), "String": c.String(),
		"profile %v": fmt.Sprintf("%v %+v %s", c.Temporal.Profile, c.Temporal.Profile, c.Temporal.Profile),
	} {
		for _, secret := range []string{apiKey, "secret-key-material", token} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret:\n%s", name, out)
			}
		}
	}
}
