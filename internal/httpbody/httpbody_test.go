package httpbody_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/awdaflow/awdaflow/internal/httpbody"
)

// countingReader yields n zero bytes and counts what was read.
type countingReader struct{ left, read int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > c.left {
		n = c.left
	}
	c.left -= n
	c.read += n
	return int(n), nil
}

// A body up to MaxDiscard is read to its end; a longer one is cut off just
// past the bound, and said so.
func TestDiscardRestIsBounded(t *testing.T) {
	w := httptest.NewRecorder()
	for _, tc := range []struct {
		size int64
		end  bool
	}{{0, true}, {10 << 20, true}, {httpbody.MaxDiscard, true}, {httpbody.MaxDiscard + 1, false}, {4 * httpbody.MaxDiscard, false}} {
		body := &countingReader{left: tc.size}
		if got := httpbody.DiscardRest(w, body); got != tc.end {
			t.Errorf("%d bytes: read to the end %v, want %v", tc.size, got, tc.end)
		}
		if body.read > httpbody.MaxDiscard+1 {
			t.Errorf("%d bytes: read %d, more than the bound", tc.size, body.read)
		}
	}
	if !httpbody.DiscardRest(w, http.NoBody) || !httpbody.DiscardRest(w, nil) {
		t.Error("no body: not read to its end")
	}
}
