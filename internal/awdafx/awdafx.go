// Package awdafx provides the AWDA client to an fx application: the signer
// from the configuration (HMAC secret or RSA key file), an HTTP client with
// the configured timeout that never follows redirects (traced when tracing
// is on), every awda.Observer contributed to the ObserverGroup (metrics,
// PII-free logs, the store's audit), called once per attempt, and the
// fleet's rate limiter when one is provided (internal/ratelimit.Module).
package awdafx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/tracing"
)

// ObserverGroup is the fx value group of awda.Observer values the client
// calls. Contribute with AsObserver.
const ObserverGroup = `group:"awda.observers"`

// AsObserver annotates a constructor returning an awda.Observer so that its
// result joins ObserverGroup.
func AsObserver(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(ObserverGroup))
}

// NewSigner returns the signer the configuration names. Errors name the
// variable, never the secret or the key.
func NewSigner(cfg config.AWDA) (awda.Signer, error) {
	switch {
	case cfg.RSAPrivateKeyFile != "":
		pem, err := os.ReadFile(cfg.RSAPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvAWDARSAKeyFile, err)
		}
		key, err := awda.ParseRSAPrivateKeyPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvAWDARSAKeyFile, err)
		}
		s, err := awda.NewRSASigner(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvAWDARSAKeyFile, err)
		}
		return s, nil
	case !cfg.HMACSecret.Empty():
		s, err := awda.NewHMACSigner([]byte(cfg.HMACSecret.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvAWDAHMACSecret, err)
		}
		return s, nil
	}
	return nil, errors.New(config.EnvAWDAHMACSecret + " or " + config.EnvAWDARSAKeyFile + " is required")
}

// NewHTTPClient is the client's transport: the whole attempt bounded by
// timeout, connections kept alive for the many concurrent activities, and
// no redirects (a redirect would be a second attempt and would carry the
// signed headers elsewhere; the awda client classifies a 3xx as a
// configuration error).
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Params are the client's dependencies.
type Params struct {
	fx.In

	Config    *config.Config
	Observers []awda.Observer `group:"awda.observers"`
	// Tracing, when on, traces every attempt (a client span, child of the
	// activity's) and sends the trace context to AWDA.
	Tracing *tracing.Tracing `optional:"true"`
	// Limiter, when provided (internal/ratelimit.Module), paces every
	// attempt under the fleet's rate limit toward AWDA. Absent or nil: no
	// limit.
	Limiter awda.Limiter `optional:"true"`
}

// NewClient builds the AWDA client from the configuration.
func NewClient(p Params) (*awda.Client, error) {
	signer, err := NewSigner(p.Config.AWDA)
	if err != nil {
		return nil, err
	}
	obs := make([]awda.Observer, 0, len(p.Observers))
	for _, o := range p.Observers {
		if o != nil {
			obs = append(obs, o)
		}
	}
	hc := NewHTTPClient(p.Config.AWDA.HTTPTimeout)
	hc.Transport = p.Tracing.Transport(hc.Transport)
	return awda.NewClient(awda.Config{
		BaseURL:    p.Config.AWDA.BaseURL,
		AppID:      p.Config.AWDA.AppID,
		Signer:     signer,
		HTTPClient: hc,
		Observers:  obs,
		Limiter:    p.Limiter,
	})
}

// Module provides *awda.Client with the metrics and logging observers; add
// others (the store's audit) with AsObserver.
var Module = fx.Module("awda",
	fx.Provide(
		NewClient,
		AsObserver(func(m *metrics.Metrics) awda.Observer { return m.AWDAObserver() }),
		AsObserver(func(l zerolog.Logger) awda.Observer {
			return awda.ZerologObserver(l.With().Str("component", "awda").Logger())
		}),
	),
)
