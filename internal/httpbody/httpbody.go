// Package httpbody reads what a handler left of a request body before it
// refuses the request, so that a client still sending gets the refusal (a
// 413 above all) instead of a connection reset.
//
// Why: after a handler returns, net/http reads at most 256 KB of what is
// left of the body; if more is left it answers, shuts its side of the
// connection and closes it half a second later. A client that is still
// writing its body (curl uploading 10 MB, any client that sends its whole
// request before reading the answer) then gets a reset on its next write
// and never reads the answer (curl exit 55). Reading the rest first makes
// the answer come after the client has finished sending, when it reads.
//
// It never keeps what it reads, and it bounds the work: at most MaxDiscard
// bytes, for at most DiscardTimeout; a larger or slower body is cut off as
// net/http would.
package httpbody

import (
	"io"
	"net/http"
	"time"
)

// Bounds of DiscardRest.
const (
	// MaxDiscard is the most DiscardRest reads: four times the largest body
	// a route takes (a 10 MiB document in base64, some 14 MB), so that any
	// realistic mistake (a photo twice the limit, a file sent to the wrong
	// route) is read to its end.
	MaxDiscard = 64 << 20
	// DiscardTimeout bounds the time spent reading it.
	DiscardTimeout = 30 * time.Second
)

// DiscardRest reads body (the request's, or what wraps it) to its end and
// throws it away, at most MaxDiscard bytes for at most DiscardTimeout (a
// read deadline set through w, where w supports it). Call it before writing
// the answer. It reports whether the body was read to its end; when not,
// net/http closes the connection after the answer, as it would have.
func DiscardRest(w http.ResponseWriter, body io.Reader) bool {
	if body == nil || body == http.NoBody {
		return true
	}
	// ErrNotSupported (a test's recorder, HTTP/2 without deadlines) leaves
	// the byte bound alone.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(DiscardTimeout))
	n, err := io.Copy(io.Discard, io.LimitReader(body, MaxDiscard+1))
	return err == nil && n <= MaxDiscard
}
