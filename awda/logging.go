package awda

import (
	"context"

	"github.com/rs/zerolog"
)

// ZerologObserver logs every attempt to l: endpoint, outcome (ok or the error
// class), code, HTTP status, latency and nonce, at debug level on success and
// warn level on failure. It never logs a body, AWDA's free-text message
// (which may name the borrower) or anything else that could be personal
// data; a transport failure's cause is logged because it comes from the
// network stack, not from the request.
func ZerologObserver(l zerolog.Logger) Observer {
	return func(_ context.Context, ci CallInfo) {
		var ev *zerolog.Event
		if ci.Err == nil {
			ev = l.Debug()
		} else {
			ev = l.Warn()
		}
		if ev == nil { // level disabled
			return
		}
		ev = ev.Str("endpoint", ci.Endpoint).
			Str("outcome", ci.Outcome()).
			Int("code", int(ci.Code)).
			Int("http_status", ci.HTTPStatus).
			Dur("latency", ci.Latency).
			Str("nonce", ci.Nonce)
		if e := ci.Err; e != nil {
			ev = ev.Bool("retryable", e.Retryable())
			if e.Field != "" {
				ev = ev.Str("field", e.Field)
			}
			if e.Code == 0 && e.HTTPStatus == 0 && e.Err != nil {
				ev = ev.Str("cause", e.Err.Error())
			}
			ev.Msg("awda call failed")
			return
		}
		ev.Msg("awda call")
	}
}
