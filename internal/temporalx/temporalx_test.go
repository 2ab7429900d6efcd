package temporalx_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

func ring(t *testing.T) *codec.KeyRing {
	t.Helper()
	spec, err := codec.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// temporalConfig is the Temporal configuration of env, as LoadFrom reads it.
func temporalConfig(t *testing.T, env map[string]string) config.Temporal {
	t.Helper()
	tc, err := config.LoadTemporal(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// recordingLogger is an SDK logger that keeps its lines.
type recordingLogger struct {
	mu  sync.Mutex
	out []string
}

func (l *recordingLogger) log(level, msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, fmt.Sprint(level, " ", msg, " ", kv))
}
func (l *recordingLogger) Debug(msg string, kv ...any) { l.log("DEBUG", msg, kv...) }
func (l *recordingLogger) Info(msg string, kv ...any)  { l.log("INFO", msg, kv...) }
func (l *recordingLogger) Warn(msg string, kv ...any)  { l.log("WARN", msg, kv...) }
func (l *recordingLogger) Error(msg string, kv ...any) { l.log("ERROR", msg, kv...) }

func (l *recordingLogger) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.out)
}

func (l *recordingLogger) has(s string) bool {
	return slices.ContainsFunc(l.lines(), func(line string) bool { return strings.Contains(line, s) })
}

func TestOptionsAlwaysEncrypt(t *testing.T) {
	if _, err := temporalx.Options(temporalConfig(t, nil), nil, nil, nil); err == nil {
		t.Fatal("Options without a key ring must fail")
	}
	o, err := temporalx.Options(temporalConfig(t, map[string]string{
		config.EnvTemporalAddress: "x:1", config.EnvTemporalNamespace: "ns", config.EnvTemporalAPIKey: "k",
	}), ring(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.DataConverter == nil || o.FailureConverter == nil {
		t.Fatal("converters not set")
	}
	if o.Credentials == nil || o.ConnectionOptions.TLS == nil {
		t.Fatal("an API key must set credentials and TLS")
	}
	if o.HostPort != "x:1" || o.Namespace != "ns" {
		t.Fatalf("address %q namespace %q", o.HostPort, o.Namespace)
	}
}

// TEMPORAL_GRPC_META_* become headers of every call; the SDK's own
// mapping (TLS server name, authority) comes through.
func TestOptionsStandardSettings(t *testing.T) {
	t.Setenv(config.TemporalGRPCMetaPrefix+"X_TENANT", "loans")
	o, err := temporalx.Options(temporalConfig(t, map[string]string{
		config.TemporalGRPCMetaPrefix + "X_TENANT": "loans",
		config.EnvTemporalTLSServer:                "frontend.internal",
		config.EnvTemporalAuthority:                "authority.internal",
	}), ring(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.HeadersProvider == nil {
		t.Fatal("no headers provider")
	}
	h, err := o.HeadersProvider.GetHeaders(context.Background())
	if err != nil || h["x-tenant"] != "loans" {
		t.Errorf("headers %v, %v", h, err)
	}
	if o.ConnectionOptions.TLS == nil || o.ConnectionOptions.TLS.ServerName != "frontend.internal" || o.ConnectionOptions.Authority != "authority.internal" {
		t.Errorf("tls %+v authority %q", o.ConnectionOptions.TLS, o.ConnectionOptions.Authority)
	}
	if o.HostPort != config.DefaultTemporalAddress || o.Namespace != config.DefaultTemporalNamespace {
		t.Errorf("defaults: address %q namespace %q", o.HostPort, o.Namespace)
	}
}

// Files that are there but hold no certificate fail when the client is
// built, before it dials.
func TestOptionsBadCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{config.EnvTemporalTLSServerCA: bad},
		{config.EnvTemporalTLSClientCert: bad, config.EnvTemporalTLSClientKey: bad},
	} {
		if _, err := temporalx.Options(temporalConfig(t, env), ring(t), nil, nil); err == nil || !strings.Contains(err.Error(), "temporal client configuration") {
			t.Errorf("%v: err = %v", env, err)
		}
	}
	empty := filepath.Join(dir, "empty-key")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := temporalx.Options(temporalConfig(t, map[string]string{config.EnvTemporalAPIKeyFile: empty}), ring(t), nil, nil)
	if err == nil || !strings.Contains(err.Error(), config.EnvTemporalAPIKeyFile) {
		t.Errorf("empty API key file: err = %v", err)
	}
}

// A deprecated variable is logged as such, naming its replacement, once
// per process however many clients are built.
func TestDeprecatedVariableLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, newCA(t).pem, 0o600); err != nil {
		t.Fatal(err)
	}
	tc := temporalConfig(t, map[string]string{config.EnvTemporalTLSCA: ca})
	logs := &recordingLogger{}
	for range 3 {
		o, err := temporalx.Options(tc, ring(t), logs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.ConnectionOptions.TLS == nil || o.ConnectionOptions.TLS.RootCAs == nil {
			t.Fatal("the deprecated TEMPORAL_TLS_CA was not applied")
		}
	}
	var warnings []string
	for _, l := range logs.lines() {
		if strings.Contains(l, config.EnvTemporalTLSCA) {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "WARN") || !strings.Contains(warnings[0], config.EnvTemporalTLSServerCA) {
		t.Errorf("warnings = %q, want one WARN naming %s", warnings, config.EnvTemporalTLSServerCA)
	}
}

func TestNewKeyRingNamesTheVariableNotTheKey(t *testing.T) {
	_, err := temporalx.NewKeyRing(&config.Config{Keys: "k1=c2hvcnQ="})
	if err == nil || !strings.Contains(err.Error(), config.EnvKeys) || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitHealthyGivesUpWithContext(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o, err := temporalx.Options(temporalConfig(t, map[string]string{config.EnvTemporalAddress: "127.0.0.1:" + strconv.Itoa(port)}), ring(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewLazyClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if err := temporalx.WaitHealthy(ctx, c, zerolog.Nop()); err == nil {
		t.Fatal("WaitHealthy succeeded with nothing listening")
	}
}

// The connection compresses nothing unless gzip is asked for: payloads are
// encrypted and do not compress.
func TestOptionsCompression(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    client.GrpcCompression
	}{
		{"", &client.GrpcCompressionNone{}},
		{config.CompressionNone, &client.GrpcCompressionNone{}},
		{config.CompressionGzip, &client.GrpcCompressionGzip{}},
	} {
		o, err := temporalx.Options(config.Temporal{Address: "localhost:7233", Compression: tc.setting}, ring(t), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch got := o.ConnectionOptions.GrpcCompression; got.(type) {
		case *client.GrpcCompressionNone:
			if _, ok := tc.want.(*client.GrpcCompressionNone); !ok {
				t.Errorf("%q: compression %T, want %T", tc.setting, got, tc.want)
			}
		case *client.GrpcCompressionGzip:
			if _, ok := tc.want.(*client.GrpcCompressionGzip); !ok {
				t.Errorf("%q: compression %T, want %T", tc.setting, got, tc.want)
			}
		default:
			t.Errorf("%q: compression %T (nil means gzip in the SDK)", tc.setting, got)
		}
	}
}
