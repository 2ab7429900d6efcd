// Package temporalx builds the Temporal client every awdaflow process uses:
// the address and namespace from the configuration, mTLS or a Temporal Cloud
// API key, the SDK logging through zerolog, the SDK's metrics through
// OpenTelemetry, and — always — the encrypting data converter and failure
// converter of internal/codec, so that no payload or error message reaches
// Temporal in plain text.
package temporalx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
)

// NewKeyRing parses the key ring the configuration names (AWDAFLOW_KEYS). The
// same ring encrypts Temporal payloads and data at rest.
func NewKeyRing(cfg *config.Config) (*codec.KeyRing, error) {
	ring, err := codec.ParseKeyRing(cfg.Keys.Reveal())
	if err != nil {
		// codec's errors name the entry and key ID, never the key.
		return nil, fmt.Errorf("%s: %w", config.EnvKeys, err)
	}
	return ring, nil
}

// Options returns the client options for cfg. logger and metrics may be nil
// (the SDK's defaults).
func Options(cfg config.Temporal, ring *codec.KeyRing, logger log.Logger, mh client.MetricsHandler) (client.Options, error) {
	if ring == nil {
		return client.Options{}, errors.New("temporalx: a key ring is required: payloads are always encrypted")
	}
	o := client.Options{
		HostPort:       cfg.Address,
		Namespace:      cfg.Namespace,
		Logger:         logger,
		MetricsHandler: mh,
	}
	o.DataConverter, o.FailureConverter = codec.ClientOptions(ring)
	o.ConnectionOptions.GrpcCompression = GrpcCompression(cfg)
	if cfg.TLS() {
		tc, err := TLSConfig(cfg)
		if err != nil {
			return client.Options{}, err
		}
		o.ConnectionOptions.TLS = tc
	}
	if !cfg.APIKey.Empty() {
		o.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey.Reveal())
	}
	return o, nil
}

// GrpcCompression is the SDK's setting for cfg.Compression (gzip unless
// "none"). Payloads are AES-GCM encrypted before they reach gRPC and do not
// compress, so by default nothing is compressed.
func GrpcCompression(cfg config.Temporal) client.GrpcCompression {
	if cfg.Compression == config.CompressionGzip {
		return &client.GrpcCompressionGzip{}
	}
	return &client.GrpcCompressionNone{}
}

// TLSConfig builds the TLS configuration: the client certificate for mTLS
// when given, the CA bundle when given (system roots otherwise).
func TLSConfig(cfg config.Temporal) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", config.EnvTemporalTLSCert, config.EnvTemporalTLSKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvTemporalTLSCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", config.EnvTemporalTLSCA, cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// WaitHealthy checks the server's health until it answers or ctx ends,
// logging each failure, so that a worker started before its server (or
// while it restarts) waits instead of crashing.
func WaitHealthy(ctx context.Context, c client.Client, zl zerolog.Logger) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CheckHealth(cctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			return nil
		}
		zl.Warn().Err(err).Int("attempt", attempt).Msg("temporal not reachable yet")
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal not reachable: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// Params are the dependencies of the client.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    *config.Config
	Ring      *codec.KeyRing
	Logger    log.Logger
	Zerolog   zerolog.Logger
	Metrics   *metrics.Metrics
	// Interceptors are the client interceptors contributed to the group
	// (tracing.Module's); none without it.
	Interceptors []interceptor.ClientInterceptor `group:"temporal.interceptors"`
}

// NewClient creates the client without connecting; the OnStart hook waits
// until the server is healthy (at most TEMPORAL_CONNECT_TIMEOUT), and the
// OnStop hook closes the client after everything started later has stopped.
func NewClient(p Params) (client.Client, error) {
	opts, err := Options(p.Config.Temporal, p.Ring, p.Logger, p.Metrics.TemporalHandler())
	if err != nil {
		return nil, err
	}
	AddInterceptors(&opts, p.Interceptors)
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, err
	}
	zl := p.Zerolog.With().Str("component", "temporal").Str("address", p.Config.Temporal.Address).Str("namespace", p.Config.Temporal.Namespace).Logger()
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, p.Config.Temporal.ConnectTimeout)
			defer cancel()
			if err := WaitHealthy(ctx, c, zl); err != nil {
				return err
			}
			zl.Info().Str("key_id", p.Ring.PrimaryKeyID()).Msg("temporal connected")
			return nil
		},
		OnStop: func(context.Context) error {
			c.Close()
			return nil
		},
	})
	return c, nil
}

// Module provides the key ring and the Temporal client.
var Module = fx.Module("temporal",
	fx.Provide(NewKeyRing, NewClient),
)
