package logging

import (
	"github.com/rs/zerolog"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
)

// FxLogger routes fx's own events through the application's zerolog logger:
// hooks and lifecycle at debug level, failures at error level.
var FxLogger = fx.WithLogger(func(l zerolog.Logger) fxevent.Logger {
	return &fxLogger{l: l.With().Str("component", "fx").Logger()}
})

type fxLogger struct{ l zerolog.Logger }

func (f *fxLogger) LogEvent(event fxevent.Event) {
	switch e := event.(type) {
	case *fxevent.OnStartExecuted:
		f.hook("OnStart", e.FunctionName, e.CallerName, e.Runtime.String(), e.Err)
	case *fxevent.OnStopExecuted:
		f.hook("OnStop", e.FunctionName, e.CallerName, e.Runtime.String(), e.Err)
	case *fxevent.Supplied:
		f.fail(e.Err, "supply failed", "type", e.TypeName)
	case *fxevent.Provided:
		f.fail(e.Err, "provide failed", "constructor", e.ConstructorName)
	case *fxevent.Decorated:
		f.fail(e.Err, "decorate failed", "decorator", e.DecoratorName)
	case *fxevent.Invoked:
		f.fail(e.Err, "invoke failed", "function", e.FunctionName)
	case *fxevent.Started:
		if e.Err != nil {
			f.l.Error().Err(e.Err).Msg("start failed")
		} else {
			f.l.Debug().Msg("started")
		}
	case *fxevent.Stopped:
		f.fail(e.Err, "stop failed")
	case *fxevent.RollingBack:
		f.l.Error().Err(e.StartErr).Msg("start failed, rolling back")
	case *fxevent.RolledBack:
		f.fail(e.Err, "rollback failed")
	case *fxevent.Stopping:
		f.l.Info().Str("signal", e.Signal.String()).Msg("stopping")
	case *fxevent.LoggerInitialized:
		f.fail(e.Err, "custom logger failed")
	}
}

func (f *fxLogger) hook(kind, fn, caller, runtime string, err error) {
	if err != nil {
		f.l.Error().Err(err).Str("hook", kind).Str("function", fn).Str("caller", caller).Msg("hook failed")
		return
	}
	f.l.Debug().Str("hook", kind).Str("function", fn).Str("caller", caller).Str("runtime", runtime).Msg("hook done")
}

func (f *fxLogger) fail(err error, msg string, kv ...string) {
	if err == nil {
		return
	}
	ev := f.l.Error().Err(err)
	for i := 0; i+1 < len(kv); i += 2 {
		ev = ev.Str(kv[i], kv[i+1])
	}
	ev.Msg(msg)
}
