package envconfig

import (
	"reflect"
	"strconv"
)

// Secret is a configuration value that must never be printed. String,
// GoString and MarshalText (and so %v, %+v, %#v, %s, %q, %x, JSON and
// zerolog's Interface) all say "[redacted]", or "" when it is unset;
// Reveal returns the value for the one place that needs it. Read from the
// environment, it keeps its exact bytes.
type Secret string

// Redacted is what a set Secret prints as.
const Redacted = "[redacted]"

var (
	secretType  = reflect.TypeFor[Secret]()
	secretsType = reflect.TypeFor[[]Secret]()
)

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Empty reports whether the secret is unset.
func (s Secret) Empty() bool { return s == "" }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText keeps encoders (JSON, zerolog's Interface) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText takes the value as it is: how env and flag.TextVar read a
// Secret.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}
