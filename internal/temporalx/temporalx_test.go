package temporalx_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

func TestOptionsAlwaysEncrypt(t *testing.T) {
	if _, err := temporalx.Options(config.Temporal{Address: "x:1", Namespace: "default"}, nil, nil, nil); err == nil {
		t.Fatal("Options without a key ring must fail")
	}
	o, err := temporalx.Options(config.Temporal{Address: "x:1", Namespace: "ns", APIKey: "k"}, ring(t), nil, nil)
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

func TestTLSConfigErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := temporalx.TLSConfig(config.Temporal{TLSCAFile: bad})
	if err == nil || !strings.Contains(err.Error(), config.EnvTemporalTLSCA) {
		t.Fatalf("err = %v, want one naming %s", err, config.EnvTemporalTLSCA)
	}
	_, err = temporalx.TLSConfig(config.Temporal{TLSCertFile: bad, TLSKeyFile: bad})
	if err == nil || !strings.Contains(err.Error(), config.EnvTemporalTLSCert) {
		t.Fatalf("err = %v, want one naming %s", err, config.EnvTemporalTLSCert)
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
	o, err := temporalx.Options(config.Temporal{Address: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default"}, ring(t), nil, nil)
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
