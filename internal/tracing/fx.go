package tracing

import (
	"context"
	"os"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/interceptor"
	"go.uber.org/fx"
)

// TemporalInterceptorGroup is the fx value group of Temporal client
// interceptors the Temporal client is built with (temporalx).
const TemporalInterceptorGroup = `group:"temporal.interceptors"`

// Module provides *Tracing, read from the process environment (New), and
// its Temporal interceptor in TemporalInterceptorGroup (none when off).
// Register it before the modules that make spans: fx stops in reverse
// order, so its OnStop hook, which flushes the spans still buffered, runs
// after they have stopped.
func Module(service string) fx.Option {
	return fx.Module("tracing",
		fx.Provide(
			func(lc fx.Lifecycle, l zerolog.Logger) (*Tracing, error) {
				t, err := New(context.Background(), service, os.Getenv)
				if err != nil {
					return nil, err
				}
				if t.Enabled() {
					l.Info().Str("component", "tracing").Msg("tracing on: exporting spans over OTLP")
				}
				lc.Append(fx.Hook{OnStop: t.Shutdown})
				return t, nil
			},
			fx.Annotate(func(t *Tracing) (interceptor.ClientInterceptor, error) { return t.TemporalInterceptor() },
				fx.ResultTags(TemporalInterceptorGroup)),
		),
	)
}
