package store

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The list cursor comes back from clients as an opaque string. decodeCursor
// is the only parser of it: anything it accepts goes into the list query's
// keyset condition as (created_at, applicant_ref) parameters, so it must
// accept only positions PostgreSQL can compare against (a refused value
// there would be a 503 for a client's typo), and refuse everything else
// with ErrInvalidCursor (the API's 400). No PostgreSQL is needed: this file
// has no build tag and the package's TestMain is integration-only.
func FuzzDecodeCursor(f *testing.F) {
	at := time.Date(2026, 3, 1, 12, 30, 15, 123456000, time.UTC)
	f.Add(cursor{CreatedAt: at, Ref: "app-1"}.encode())
	f.Add(cursor{CreatedAt: at.In(time.FixedZone("WIB", 7*3600)), Ref: "A.b_c:d-9"}.encode())
	f.Add("")
	f.Add("not base64!")
	f.Add("e30")                                    // {}
	f.Add("eyJ0IjoiMjAyNi0wMy0wMVQxMjozMDoxNVoifQ") // no ref
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if err != ErrInvalidCursor {
				t.Fatalf("decodeCursor(%q): error %v, want exactly ErrInvalidCursor", s, err)
			}
			if c != (cursor{}) {
				t.Fatalf("decodeCursor(%q) failed but returned %+v", s, c)
			}
			return
		}
		if c.Ref == "" || c.CreatedAt.IsZero() {
			t.Fatalf("decodeCursor(%q) accepted an incomplete position %+v", s, c)
		}
		// What reaches PostgreSQL as a text parameter: valid UTF-8 without
		// NUL, which a text value can never hold (22021).
		if !utf8.ValidString(c.Ref) || strings.ContainsRune(c.Ref, 0) {
			t.Fatalf("decodeCursor(%q) accepted ref %q, which no applications row can hold", s, c.Ref)
		}
		// The position survives a round trip through the encoder the list
		// uses for nextCursor.
		again, err := decodeCursor(c.encode())
		if err != nil || again.Ref != c.Ref || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("round trip of %+v: %+v, %v", c, again, err)
		}
	})
}

// Every cursor the list hands out (a row's created_at and applicant_ref)
// decodes to the same position.
func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(1767225600123456000), "app-1")
	f.Add(int64(-6795364578871345152), "x") // 1754
	f.Add(int64(0), "ref with spaces and ünïcode")
	f.Fuzz(func(t *testing.T, unixNanos int64, ref string) {
		if ref == "" || !utf8.ValidString(ref) || strings.ContainsRune(ref, 0) {
			return // not a value an applications row holds
		}
		// PostgreSQL keeps microseconds; the rows the cursor is made from
		// carry no more.
		at := time.Unix(0, unixNanos).Truncate(time.Microsecond)
		enc := cursor{CreatedAt: at, Ref: ref}.encode()
		c, err := decodeCursor(enc)
		if err != nil {
			t.Fatalf("cursor of (%v, %q) does not decode: %v", at, ref, err)
		}
		if c.Ref != ref || !c.CreatedAt.Equal(at) {
			t.Fatalf("cursor of (%v, %q) decodes to (%v, %q)", at, ref, c.CreatedAt, c.Ref)
		}
		if strings.ContainsAny(enc, "+/=") {
			t.Fatalf("cursor %q is not URL-safe", enc)
		}
	})
}
