package codec_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// genEntry returns one fresh "id=base64key" entry.
func genEntry(t testing.TB, id string) string {
	t.Helper()
	e, err := codec.GenerateKeySpec(id)
	if err != nil {
		t.Fatalf("GenerateKeySpec(%q): %v", id, err)
	}
	return e
}

func mustRing(t testing.TB, entries ...string) *codec.KeyRing {
	t.Helper()
	k, err := codec.ParseKeyRing(strings.Join(entries, ","))
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	return k
}

func TestGenerateKeySpec(t *testing.T) {
	e := genEntry(t, "k1")
	id, key, ok := strings.Cut(e, "=")
	if !ok || id != "k1" {
		t.Fatalf("entry %q: want k1=<key>", id)
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != codec.KeySize {
		t.Fatalf("key decodes to %d bytes (err %v), want %d", len(raw), err, codec.KeySize)
	}
	if e2 := genEntry(t, "k1"); e2 == e {
		t.Fatal("two generated keys are identical")
	}
	if _, err := codec.GenerateKeySpec("bad id"); err == nil {
		t.Fatal("GenerateKeySpec accepted a key ID with a space")
	}
}

func TestParseKeyRingPrimaryIsLast(t *testing.T) {
	k := mustRing(t, genEntry(t, "old"), " "+genEntry(t, "mid")+" ", genEntry(t, "new"))
	if got := k.PrimaryKeyID(); got != "new" {
		t.Fatalf("PrimaryKeyID = %q, want new", got)
	}
	if got := strings.Join(k.KeyIDs(), ","); got != "old,mid,new" {
		t.Fatalf("KeyIDs = %s, want old,mid,new", got)
	}
}

func TestParseKeyRingAcceptsBase64Variants(t *testing.T) {
	raw := make([]byte, codec.KeySize)
	for i := range raw {
		raw[i] = byte(250 - i) // bytes that differ between the std and URL alphabets
	}
	for name, enc := range map[string]*base64.Encoding{
		"std": base64.StdEncoding, "rawstd": base64.RawStdEncoding,
		"url": base64.URLEncoding, "rawurl": base64.RawURLEncoding,
	} {
		if _, err := codec.ParseKeyRing("k=" + enc.EncodeToString(raw)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseKeyRingErrors(t *testing.T) {
	good := genEntry(t, "good")
	_, goodKey, _ := strings.Cut(good, "=")
	short := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")) // 16 bytes
	secretish := "S3CR3T-not-base64!!"
	cases := []struct {
		name, spec, want string
	}{
		{"empty", "", "empty key ring"},
		{"blank", "   ", "empty key ring"},
		{"trailing comma", good + ",", "entry 2 is empty"},
		{"no equals", good + ",justtext", "entry 2: missing '='"},
		{"empty id", "=" + goodKey, "entry 1: empty key ID"},
		{"bad id", "a/b=" + goodKey, "outside [A-Za-z0-9._-]"},
		{"long id", strings.Repeat("x", 65) + "=" + goodKey, "longer than 64"},
		{"duplicate", good + "," + good, `duplicate key ID "good"`},
		{"empty key", "k=", `key ID "k"): empty key`},
		{"not base64", "k=" + secretish, `key ID "k"): key is not valid base64`},
		{"wrong length", "k=" + short, "must decode to 32 bytes, got 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := codec.ParseKeyRing(tc.spec)
			if err == nil {
				t.Fatalf("ParseKeyRing accepted %q: %v", tc.name, k)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not contain %q", msg, tc.want)
			}
			for _, secret := range []string{goodKey, short, secretish} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error %q contains key material", msg)
				}
			}
		})
	}
}

func TestKeyRingStringHasNoKeyMaterial(t *testing.T) {
	e := genEntry(t, "k1")
	_, key, _ := strings.Cut(e, "=")
	raw, _ := base64.StdEncoding.DecodeString(key)
	k := mustRing(t, e)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if !strings.Contains(s, "k1") {
			t.Errorf("%q does not name the key ID", s)
		}
		if strings.Contains(s, key) || strings.Contains(s, string(raw)) || strings.Contains(s, fmt.Sprintf("%x", raw)) {
			t.Errorf("%q contains key material", s)
		}
	}
}
