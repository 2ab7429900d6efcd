package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	temporalenv "go.temporal.io/sdk/contrib/envconfig"

	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

// The Temporal connection is Temporal's standard client configuration, as
// the temporal CLI and every SDK read it (go.temporal.io/sdk/contrib/envconfig):
// a profile of a TOML file (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), then
// the TEMPORAL_* variables over it. The names below are those variables;
// TEMPORAL_API_KEY_FILE, TEMPORAL_CONNECT_TIMEOUT and
// TEMPORAL_GRPC_COMPRESSION are ours.
const (
	EnvTemporalConfigFile     = "TEMPORAL_CONFIG_FILE" // TOML profile file; default <user config dir>/temporalio/temporal.toml when present
	EnvTemporalProfile        = "TEMPORAL_PROFILE"     // profile of that file; default "default"
	EnvTemporalAddress        = "TEMPORAL_ADDRESS"
	EnvTemporalNamespace      = "TEMPORAL_NAMESPACE"
	EnvTemporalAPIKey         = "TEMPORAL_API_KEY" // Temporal Cloud API key (implies TLS)
	EnvTemporalTLS            = "TEMPORAL_TLS"     // true or false; default on with any TLS setting or an API key
	EnvTemporalTLSClientCert  = "TEMPORAL_TLS_CLIENT_CERT_PATH"
	EnvTemporalTLSClientCertD = "TEMPORAL_TLS_CLIENT_CERT_DATA"
	EnvTemporalTLSClientKey   = "TEMPORAL_TLS_CLIENT_KEY_PATH"
	EnvTemporalTLSClientKeyD  = "TEMPORAL_TLS_CLIENT_KEY_DATA"
	EnvTemporalTLSServerCA    = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
	EnvTemporalTLSServerCAD   = "TEMPORAL_TLS_SERVER_CA_CERT_DATA"
	EnvTemporalTLSServer      = "TEMPORAL_TLS_SERVER_NAME"
	EnvTemporalTLSNoVerify    = "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"
	EnvTemporalAuthority      = "TEMPORAL_CLIENT_AUTHORITY"
	// TemporalGRPCMetaPrefix starts the variables that add gRPC metadata
	// (headers) to every call: TEMPORAL_GRPC_META_X_TENANT=a sends
	// "x-tenant: a".
	TemporalGRPCMetaPrefix = "TEMPORAL_GRPC_META_"

	// EnvTemporalAPIKeyFile names a file holding the API key, read again
	// whenever it changes, so that a rotated key (a Kubernetes Secret
	// volume) is used without a restart. Ours; not with TEMPORAL_API_KEY.
	EnvTemporalAPIKeyFile = "TEMPORAL_API_KEY_FILE"
	EnvTemporalConnect    = "TEMPORAL_CONNECT_TIMEOUT"
	// EnvTemporalCompression is the gRPC compression of the connection to
	// Temporal: "none" (default) or "gzip". Every payload is AES-GCM
	// encrypted and does not compress, so gzip mostly burns CPU on both
	// ends; turn it on for a slow link to a remote cluster.
	EnvTemporalCompression = "TEMPORAL_GRPC_COMPRESSION"

	// Deprecated names, from the CLI's old flags, still read: each is
	// logged once as deprecated, naming its standard replacement (see
	// TemporalRenames), and is an error when that is set to something else.
	EnvTemporalTLSCert = "TEMPORAL_TLS_CERT" // use TEMPORAL_TLS_CLIENT_CERT_PATH
	EnvTemporalTLSKey  = "TEMPORAL_TLS_KEY"  // use TEMPORAL_TLS_CLIENT_KEY_PATH
	EnvTemporalTLSCA   = "TEMPORAL_TLS_CA"   // use TEMPORAL_TLS_SERVER_CA_CERT_PATH
)

// Rename is a deprecated variable and the standard one that replaces it.
type Rename struct{ Old, New string }

// TemporalRenames are the deprecated variables still read.
var TemporalRenames = []Rename{
	{EnvTemporalTLSCert, EnvTemporalTLSClientCert},
	{EnvTemporalTLSKey, EnvTemporalTLSClientKey},
	{EnvTemporalTLSCA, EnvTemporalTLSServerCA},
}

// Temporal is how to reach the Temporal server.
type Temporal struct {
	// Env is the standard variables as set; Profile is what they mean.
	Env TemporalEnv

	APIKeyFile     string        `env:"TEMPORAL_API_KEY_FILE"`
	ConnectTimeout time.Duration `env:"TEMPORAL_CONNECT_TIMEOUT" envDefault:"30s"`   // how long startup waits for the server
	Compression    string        `env:"TEMPORAL_GRPC_COMPRESSION" envDefault:"none"` // CompressionNone or CompressionGzip

	// Set by LoadFrom, not by a variable of their own:

	// Profile is the resolved standard configuration: the profile of the
	// file, the variables over it, the deprecated names mapped.
	Profile TemporalProfile `env:"-"`
	// Address and Namespace are the profile's, or localhost:7233 and
	// "default".
	Address   string `env:"-"`
	Namespace string `env:"-"`
	// Deprecated lists the deprecated variables that are set.
	Deprecated []Rename `env:"-"`
}

// TemporalEnv is the standard variables (and the deprecated ones) as set.
// The SDK's loader reads them from here, so that a value is trimmed and
// checked like every other variable.
type TemporalEnv struct {
	ConfigFile              string `env:"TEMPORAL_CONFIG_FILE"`
	ProfileName             string `env:"TEMPORAL_PROFILE"`
	Address                 string `env:"TEMPORAL_ADDRESS"`
	Namespace               string `env:"TEMPORAL_NAMESPACE"`
	APIKey                  Secret `env:"TEMPORAL_API_KEY"`
	TLS                     string `env:"TEMPORAL_TLS"`
	ClientCertPath          string `env:"TEMPORAL_TLS_CLIENT_CERT_PATH"`
	ClientCertData          string `env:"TEMPORAL_TLS_CLIENT_CERT_DATA"`
	ClientKeyPath           string `env:"TEMPORAL_TLS_CLIENT_KEY_PATH"`
	ClientKeyData           Secret `env:"TEMPORAL_TLS_CLIENT_KEY_DATA"`
	ServerCACertPath        string `env:"TEMPORAL_TLS_SERVER_CA_CERT_PATH"`
	ServerCACertData        string `env:"TEMPORAL_TLS_SERVER_CA_CERT_DATA"`
	ServerName              string `env:"TEMPORAL_TLS_SERVER_NAME"`
	DisableHostVerification string `env:"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"`
	Authority               string `env:"TEMPORAL_CLIENT_AUTHORITY"`

	LegacyCert string `env:"TEMPORAL_TLS_CERT"`
	LegacyKey  string `env:"TEMPORAL_TLS_KEY"`
	LegacyCA   string `env:"TEMPORAL_TLS_CA"`

	// GRPCMeta is TEMPORAL_GRPC_META_*, as "NAME=value": secrets, as
	// metadata often carries a token.
	GRPCMeta []Secret `env:"-"`
}

// set is the standard variables that are set, by name, the deprecated
// ones under their new names (unless the new one is set too).
func (e TemporalEnv) set() map[string]string {
	m := map[string]string{}
	for name, v := range map[string]string{
		EnvTemporalAddress: e.Address, EnvTemporalNamespace: e.Namespace, EnvTemporalAPIKey: e.APIKey.Reveal(),
		EnvTemporalTLS: e.TLS, EnvTemporalTLSClientCert: e.ClientCertPath, EnvTemporalTLSClientCertD: e.ClientCertData,
		EnvTemporalTLSClientKey: e.ClientKeyPath, EnvTemporalTLSClientKeyD: e.ClientKeyData.Reveal(),
		EnvTemporalTLSServerCA: e.ServerCACertPath, EnvTemporalTLSServerCAD: e.ServerCACertData,
		EnvTemporalTLSServer: e.ServerName, EnvTemporalTLSNoVerify: e.DisableHostVerification,
		EnvTemporalAuthority: e.Authority,
	} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

func (e TemporalEnv) legacy(name string) string {
	switch name {
	case EnvTemporalTLSCert:
		return e.LegacyCert
	case EnvTemporalTLSKey:
		return e.LegacyKey
	case EnvTemporalTLSCA:
		return e.LegacyCA
	}
	return ""
}

// temporalLookup is the environment as the SDK's loader sees it.
type temporalLookup struct {
	vals map[string]string
	meta []string
}

func (l temporalLookup) LookupEnv(k string) (string, bool) { v, ok := l.vals[k]; return v, ok }
func (l temporalLookup) Environ() []string                 { return l.meta }

// resolve loads the standard configuration: the profile file, then the
// variables (the deprecated ones mapped to their new names), and checks
// it. source names the variable each setting came from, for messages.
func (t *Temporal) resolve(r *envconfig.Reader) {
	t.Env.APIKey = Secret(strings.TrimSpace(t.Env.APIKey.Reveal()))
	vals := t.Env.set()
	source := map[string]string{}
	for name := range vals {
		source[name] = name
	}
	t.Deprecated = nil
	for _, rn := range TemporalRenames {
		old := t.Env.legacy(rn.Old)
		if old == "" {
			continue
		}
		t.Deprecated = append(t.Deprecated, rn)
		if cur, ok := vals[rn.New]; ok && cur != old {
			r.Fail(rn.Old+" and "+rn.New, fmt.Sprintf("both set, to different files: %s replaces the deprecated %s; unset it", rn.New, rn.Old))
			continue
		}
		vals[rn.New], source[rn.New] = old, rn.Old
	}
	file(r, EnvTemporalConfigFile, t.Env.ConfigFile)
	p, err := temporalenv.LoadClientConfigProfile(temporalenv.LoadClientConfigProfileOptions{
		ConfigFilePath:    t.Env.ConfigFile,
		ConfigFileProfile: t.Env.ProfileName,
		// A key the SDK does not know (a typo) is an error, not ignored.
		ConfigFileStrict: true,
		EnvLookup:        temporalLookup{vals: vals, meta: reveal(t.Env.GRPCMeta)},
	})
	if err != nil {
		r.Fail(EnvTemporalConfigFile+" or "+EnvTemporalProfile, err.Error())
	}
	if p.Address == "" {
		p.Address = DefaultTemporalAddress
	}
	if p.Namespace == "" {
		p.Namespace = DefaultTemporalNamespace
	}
	t.Address, t.Namespace = p.Address, p.Namespace
	t.Profile = TemporalProfile{p: p}
	t.check(r, source)
}

// check checks what the SDK would refuse late or not at all (a TEMPORAL_TLS
// of "yes" it ignores), naming the variable (or the profile file) each
// setting came from.
func (t *Temporal) check(r *envconfig.Reader, source map[string]string) {
	from := func(name string) string {
		if s := source[name]; s != "" {
			return s
		}
		return name + " (profile file)"
	}
	hostPort(r, from(EnvTemporalAddress), t.Address)
	if t.Compression != CompressionNone && t.Compression != CompressionGzip {
		r.Fail(EnvTemporalCompression, fmt.Sprintf("%q: want %q or %q", t.Compression, CompressionNone, CompressionGzip))
	}
	for name, v := range map[string]string{EnvTemporalTLS: t.Env.TLS, EnvTemporalTLSNoVerify: t.Env.DisableHostVerification} {
		if l := strings.ToLower(v); v != "" && !slices.Contains([]string{"true", "false", "1", "0"}, l) {
			r.Fail(name, fmt.Sprintf("%q: want true or false", v))
		}
	}
	if tl := t.Profile.p.TLS; tl != nil {
		pathOrData(r, from(EnvTemporalTLSClientCert), from(EnvTemporalTLSClientCertD), tl.ClientCertPath, tl.ClientCertData)
		pathOrData(r, from(EnvTemporalTLSClientKey), from(EnvTemporalTLSClientKeyD), tl.ClientKeyPath, tl.ClientKeyData)
		pathOrData(r, from(EnvTemporalTLSServerCA), from(EnvTemporalTLSServerCAD), tl.ServerCACertPath, tl.ServerCACertData)
		hasCert := tl.ClientCertPath != "" || len(tl.ClientCertData) > 0
		hasKey := tl.ClientKeyPath != "" || len(tl.ClientKeyData) > 0
		switch {
		case hasCert && !hasKey:
			r.Fail(from(EnvTemporalTLSClientCert)+" and "+EnvTemporalTLSClientKey, "set both (client certificate and its key) or neither")
		case hasKey && !hasCert:
			r.Fail(EnvTemporalTLSClientCert+" and "+from(EnvTemporalTLSClientKey), "set both (client certificate and its key) or neither")
		}
		file(r, from(EnvTemporalTLSClientCert), tl.ClientCertPath)
		file(r, from(EnvTemporalTLSClientKey), tl.ClientKeyPath)
		file(r, from(EnvTemporalTLSServerCA), tl.ServerCACertPath)
	}
	if t.APIKeyFile != "" && t.Profile.p.APIKey != "" {
		r.Fail(from(EnvTemporalAPIKey)+" and "+EnvTemporalAPIKeyFile, "set one, not both")
	}
	file(r, EnvTemporalAPIKeyFile, t.APIKeyFile)
	r.Want(EnvTemporalConnect, t.ConnectTimeout > 0, positiveDuration)
}

func pathOrData(r *envconfig.Reader, pathVar, dataVar, path string, data []byte) {
	if path != "" && len(data) > 0 {
		r.Fail(pathVar+" and "+dataVar, "set one, not both")
	}
}

// TLS reports whether the connection uses TLS: TEMPORAL_TLS (or the
// profile's tls.disabled) when set, otherwise with any TLS setting or an
// API key (Temporal Cloud accepts keys over TLS only).
func (t Temporal) TLS() bool {
	if tl := t.Profile.p.TLS; tl != nil {
		return !tl.Disabled
	}
	return t.Profile.p.APIKey != "" || t.APIKeyFile != ""
}

// MTLS reports whether a client certificate is configured.
func (t Temporal) MTLS() bool {
	tl := t.Profile.p.TLS
	return tl != nil && !tl.Disabled && (tl.ClientCertPath != "" || len(tl.ClientCertData) > 0)
}

// HasAPIKey reports whether an API key is configured (a value or a file).
func (t Temporal) HasAPIKey() bool { return t.Profile.p.APIKey != "" || t.APIKeyFile != "" }

// TemporalProfile holds the resolved standard client configuration. It
// carries secrets (the API key, a client key, gRPC metadata), so it prints,
// and marshals, as a summary that leaves them out.
type TemporalProfile struct {
	p temporalenv.ClientConfigProfile
}

// NewTemporalProfile wraps p (for tests and tools that build one).
func NewTemporalProfile(p temporalenv.ClientConfigProfile) TemporalProfile {
	return TemporalProfile{p: p}
}

// Get returns a copy of the profile, for the one place that builds the
// client (internal/temporalx).
func (p TemporalProfile) Get() temporalenv.ClientConfigProfile {
	out := p.p
	if p.p.TLS != nil {
		tls := *p.p.TLS
		out.TLS = &tls
	}
	out.GRPCMeta = make(map[string]string, len(p.p.GRPCMeta))
	for k, v := range p.p.GRPCMeta {
		out.GRPCMeta[k] = v
	}
	return out
}

func (p TemporalProfile) String() string {
	keys := make([]string, 0, len(p.p.GRPCMeta))
	for k := range p.p.GRPCMeta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	tls := p.p.TLS != nil && !p.p.TLS.Disabled || p.p.TLS == nil && p.p.APIKey != ""
	return fmt.Sprintf("address=%s namespace=%s tls=%t api_key=%t grpc_meta=%v", p.p.Address, p.p.Namespace, tls, p.p.APIKey != "", keys)
}

// GoString keeps %#v from printing the secrets.
func (p TemporalProfile) GoString() string { return fmt.Sprintf("%q", p.String()) }

// MarshalJSON keeps encoders from printing the secrets.
func (p TemporalProfile) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// LoadTemporal reads the Temporal section alone through getenv, for tools
// that only talk to Temporal (the TEMPORAL_GRPC_META_* names are those of
// the process environment, their values getenv's).
func LoadTemporal(getenv func(string) string) (Temporal, error) {
	r := envconfig.NewReader(getenv)
	var t Temporal
	r.Parse(&t)
	t.Env.GRPCMeta = grpcMeta(getenv, os.Environ())
	t.resolve(r)
	return t, r.Err()
}

// grpcMeta is the TEMPORAL_GRPC_META_* variables among the names of
// environ, as "NAME=value" with the value read through getenv.
func grpcMeta(getenv func(string) string, environ []string) []Secret {
	var out []Secret
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, TemporalGRPCMetaPrefix) && len(name) > len(TemporalGRPCMetaPrefix) {
			out = append(out, Secret(name+"="+strings.TrimSpace(getenv(name))))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func reveal(s []Secret) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = v.Reveal()
	}
	return out
}
