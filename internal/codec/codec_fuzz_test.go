package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// Fuzz targets of everything this package reads from outside: the key ring
// spec (an environment variable), sealed blobs (database rows), encrypted
// payloads (Temporal histories) and the codec server's requests. The
// committed seed corpora live in testdata/fuzz/<FuzzName>/; the sealed
// blobs and payloads in them were made with fuzzRing, whose keys are fixed
// so that seeds can carry real ciphertexts.

// fuzzKeyOld and fuzzKeyNew are test keys (bytes 0..31 and 32..63).
var fuzzKeyOld, fuzzKeyNew = testKey(0), testKey(32)

func testKey(from byte) string {
	k := make([]byte, codec.KeySize)
	for i := range k {
		k[i] = from + byte(i)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// fuzzRing is "old" and "new" (primary).
func fuzzRing(t testing.TB) *codec.KeyRing {
	t.Helper()
	k, err := codec.ParseKeyRing("old=" + fuzzKeyOld + ",new=" + fuzzKeyNew)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyLike matches runs of base64 characters long enough to be a 32-byte key
// (43 characters unpadded).
var keyLike = regexp.MustCompile(`[A-Za-z0-9+/_-]{43,}`)

// FuzzParseKeyRing: any spec either parses into a ring whose IDs are the
// entries' IDs in order (primary last) and whose keys seal and open, or
// fails with a "codec: " error that quotes no key material: no entry's key
// text, and no run of base64 characters that decodes to a 32-byte key (a
// key pasted where its ID belongs, as in "k1=…,<key>=").
func FuzzParseKeyRing(f *testing.F) {
	f.Add("k1=" + fuzzKeyOld)
	f.Add("old=" + fuzzKeyOld + ", new=" + strings.TrimRight(fuzzKeyNew, "="))
	f.Add("k1=" + fuzzKeyOld + "," + fuzzKeyNew)
	f.Add("")
	f.Fuzz(func(t *testing.T, spec string) {
		k, err := codec.ParseKeyRing(spec)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "codec: ") {
				t.Fatalf("error without the package prefix: %q", msg)
			}
			entries := strings.Split(spec, ",")
			for _, entry := range entries {
				_, material, ok := strings.Cut(entry, "=")
				material = strings.TrimSpace(material)
				if !ok || len(material) < 8 || !strings.Contains(msg, material) {
					continue
				}
				// The same text as (part of) an entry's ID is quoted as
				// that ID; what is checked is that key text is never quoted.
				isID := false
				for _, e := range entries {
					id, _, _ := strings.Cut(e, "=")
					isID = isID || strings.Contains(strings.TrimSpace(id), material)
				}
				if !isID {
					t.Fatalf("error quotes the key text of an entry: %q", msg)
				}
			}
			for _, run := range keyLike.FindAllString(spec, -1) {
				for i := 0; i+43 <= len(run); i++ {
					if decodesToKey(run[i:i+43]) && strings.Contains(msg, run[i:i+43]) {
						t.Fatalf("error quotes key material %q: %q", run[i:i+43], msg)
					}
				}
			}
			return
		}
		var ids []string
		for _, entry := range strings.Split(strings.TrimSpace(spec), ",") {
			id, _, _ := strings.Cut(strings.TrimSpace(entry), "=")
			ids = append(ids, strings.TrimSpace(id))
		}
		if got := k.KeyIDs(); strings.Join(got, ",") != strings.Join(ids, ",") || k.PrimaryKeyID() != ids[len(ids)-1] {
			t.Fatalf("spec %q: ring %v primary %q, want %v", spec, got, k.PrimaryKeyID(), ids)
		}
		for _, entry := range strings.Split(spec, ",") {
			_, material, _ := strings.Cut(entry, "=")
			if material = strings.TrimSpace(material); strings.Contains(k.String(), material) || strings.Contains(k.GoString(), material) {
				t.Fatalf("String() shows key material: %q", k.String())
			}
		}
		sealed, err := k.Seal([]byte("plain"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := k.Open(sealed, []byte("aad")); err != nil || string(pt) != "plain" {
			t.Fatalf("a parsed ring does not open its own seal: %q %v", pt, err)
		}
	})
}

func decodesToKey(s string) bool {
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == codec.KeySize {
			return true
		}
	}
	return false
}

// openErr reports whether err is one of Open's and Decode's three kinds.
func openErr(err error) bool {
	return errors.Is(err, codec.ErrMalformed) || errors.Is(err, codec.ErrUnknownKey) || errors.Is(err, codec.ErrDecrypt)
}

// FuzzOpen: an arbitrary blob (a database row someone edited, or another
// column's value) opens only if it is a real seal for that aad; otherwise
// it fails with ErrMalformed, ErrUnknownKey or ErrDecrypt, never with
// another error or a panic, and the error never shows the plaintext. A
// fresh seal of any plaintext opens to it under the same aad only: another
// aad, any flipped byte or a truncation fails, and an older ring that lacks
// the primary key answers ErrUnknownKey.
func FuzzOpen(f *testing.F) {
	k := fuzzRing(f)
	old, err := codec.ParseKeyRing("old=" + fuzzKeyOld)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{1, 3, 'n', 'e', 'w'}, []byte("documents/1"), []byte("a KTP image"), uint16(7), uint8(1))
	f.Fuzz(func(t *testing.T, blob, aad, plaintext []byte, pos uint16, flip uint8) {
		if pt, err := k.Open(blob, aad); err != nil {
			if !openErr(err) {
				t.Fatalf("Open: error of another kind: %v", err)
			}
		} else {
			// A seal of this aad (seeds carry some): it opens the same way
			// again, and under no other aad.
			if again, err := k.Open(blob, aad); err != nil || !bytes.Equal(again, pt) {
				t.Fatalf("Open is not deterministic: %v", err)
			}
			if _, err := k.Open(blob, append(bytes.Clone(aad), 'x')); !errors.Is(err, codec.ErrDecrypt) {
				t.Fatalf("a seal opened under another aad: %v", err)
			}
		}

		sealed, err := k.Seal(plaintext, aad)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := k.Open(sealed, aad); err != nil || !bytes.Equal(pt, plaintext) {
			t.Fatalf("round trip: %q, %v", pt, err)
		}
		if _, err := old.Open(sealed, aad); !errors.Is(err, codec.ErrUnknownKey) {
			t.Fatalf("a ring without the key: %v", err)
		}
		if _, err := k.Open(sealed, append(bytes.Clone(aad), 0)); !errors.Is(err, codec.ErrDecrypt) {
			t.Fatalf("opened under another aad: %v", err)
		}
		if flip != 0 {
			bad := bytes.Clone(sealed)
			bad[int(pos)%len(bad)] ^= flip
			pt, err := k.Open(bad, aad)
			if err == nil {
				t.Fatalf("a blob with byte %d flipped opened to %q", int(pos)%len(bad), pt)
			}
			if !openErr(err) {
				t.Fatalf("flipped blob: error of another kind: %v", err)
			}
			if len(plaintext) >= 8 && strings.Contains(err.Error(), string(plaintext)) {
				t.Fatalf("error shows the plaintext: %v", err)
			}
		}
		if _, err := k.Open(sealed[:int(pos)%len(sealed)], aad); err == nil || !openErr(err) {
			t.Fatalf("a truncated blob: %v", err)
		}
	})
}

// FuzzPayloadDecode: arbitrary payloads (decoded from arbitrary protobuf
// bytes, or built from an arbitrary encoding, key ID and data) go through
// Decode without a panic; it fails only with the three codec errors, whose
// text never shows payload data; payloads that are not marked encrypted
// pass through untouched; and Encode then Decode gives back any payload
// exactly, with nothing of it visible in the encoded form's metadata.
func FuzzPayloadDecode(f *testing.F) {
	pc := codec.NewPayloadCodec(fuzzRing(f))
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"nik": "3171015505900001"})
	if err != nil {
		f.Fatal(err)
	}
	raw, err := proto.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, false, "", "", []byte(nil))
	f.Add([]byte(nil), true, codec.MetadataEncodingEncrypted, "new", []byte("0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, raw []byte, build bool, encoding, keyID string, data []byte) {
		var in []*commonpb.Payload
		if build {
			md := map[string][]byte{converter.MetadataEncoding: []byte(encoding)}
			if keyID != "" {
				md[codec.MetadataEncryptionKeyID] = []byte(keyID)
			}
			in = []*commonpb.Payload{{Metadata: md, Data: data}}
		} else {
			var ps commonpb.Payloads
			if proto.Unmarshal(raw, &ps) != nil {
				return
			}
			in = ps.Payloads
		}

		out, err := pc.Decode(in)
		if err != nil {
			if !openErr(err) {
				t.Fatalf("Decode: error of another kind: %v", err)
			}
			for _, p := range in {
				if len(p.GetData()) >= 8 && strings.Contains(err.Error(), string(p.GetData())) {
					t.Fatalf("error shows payload data: %v", err)
				}
			}
		} else {
			if len(out) != len(in) {
				t.Fatalf("Decode returned %d payloads for %d", len(out), len(in))
			}
			for i, p := range in {
				if string(p.GetMetadata()[converter.MetadataEncoding]) != codec.MetadataEncodingEncrypted && out[i] != p {
					t.Fatalf("payload %d is not encrypted but was changed", i)
				}
			}
		}

		enc, err := pc.Encode(in)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		for _, p := range enc {
			if len(p.Metadata) != 2 || string(p.Metadata[converter.MetadataEncoding]) != codec.MetadataEncodingEncrypted ||
				string(p.Metadata[codec.MetadataEncryptionKeyID]) != "new" {
				t.Fatalf("encoded metadata %v", p.Metadata)
			}
		}
		dec, err := pc.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(p)): %v", err)
		}
		for i := range in {
			if !proto.Equal(dec[i], in[i]) {
				t.Fatalf("payload %d does not survive Encode+Decode", i)
			}
		}
	})
}

// FuzzCodecHandler: the codec server with any path, token and body. Without
// the token it is 401 and reads nothing; with it, a POST to /codec/decode or
// /codec/encode answers 200 exactly when the body is a JSON Payloads message
// the codec takes, with as many payloads back as went in; otherwise 4xx,
// never 5xx. What /encode answers, /decode turns back into the payloads.
func FuzzCodecHandler(f *testing.F) {
	const token = "ops-token-0123456789"
	pc := codec.NewPayloadCodec(fuzzRing(f))
	h := codec.NewHandler(fuzzRing(f), codec.HandlerOptions{BearerTokens: []string{token}})
	f.Add(true, true, []byte(`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"eyJhIjoxfQ=="}]}`))
	f.Add(false, true, []byte(`{"payloads":[]}`))
	f.Add(true, false, []byte(`{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA==","encryption-key-id":"bmV3"},"data":"AAAA"}]}`))
	f.Fuzz(func(t *testing.T, authorized, decode bool, body []byte) {
		path := codec.PathPrefix + "/encode"
		if decode {
			path = codec.PathPrefix + "/decode"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if authorized {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !authorized {
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("no token: %d", rec.Code)
			}
			return
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var in commonpb.Payloads
		parsed := protojson.Unmarshal(body, &in) == nil
		want := parsed
		if parsed && decode {
			_, err := pc.Decode(in.Payloads)
			want = err == nil
		}
		if (rec.Code == http.StatusOK) != want {
			t.Fatalf("status %d for a body that parses %v (decode %v): %s", rec.Code, parsed, decode, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var out commonpb.Payloads
		if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Payloads) != len(in.Payloads) {
			t.Fatalf("answer %d payloads for %d (%v)", len(out.Payloads), len(in.Payloads), err)
		}
		if !decode {
			back, err := pc.Decode(out.Payloads)
			if err != nil {
				t.Fatalf("the encode answer does not decode: %v", err)
			}
			for i := range back {
				if !proto.Equal(back[i], in.Payloads[i]) {
					t.Fatalf("payload %d does not survive the encode endpoint", i)
				}
			}
		}
	})
}
