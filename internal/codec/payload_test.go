package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/internal/codec"
)

type applicant struct {
	NIK   string `json:"nik"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

var testApplicant = applicant{NIK: "3174012345678901", Name: "Siti Rahayu", Phone: "+6281234567890"}

// assertNoPII fails if b holds any of the test applicant's fields, in plain
// text or base64 (as a JSON or protojson dump would show raw bytes).
func assertNoPII(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range []string{testApplicant.NIK, testApplicant.Name, testApplicant.Phone, "Siti"} {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("%s contains %q in plain text", what, s)
		}
		if bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(s)))) {
			t.Fatalf("%s contains %q in base64", what, s)
		}
	}
}

func TestPayloadCodecRoundTrip(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	dc := codec.NewDataConverter(k)

	payloads, err := dc.ToPayloads(testApplicant, "second arg", 42, nil, []byte{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range payloads.Payloads {
		if enc := string(p.Metadata[converter.MetadataEncoding]); enc != codec.MetadataEncodingEncrypted {
			t.Fatalf("payload %d encoding = %q, want %s", i, enc, codec.MetadataEncodingEncrypted)
		}
		if id := string(p.Metadata[codec.MetadataEncryptionKeyID]); id != "k1" {
			t.Fatalf("payload %d key ID = %q, want k1", i, id)
		}
		if len(p.Metadata) != 2 {
			t.Fatalf("payload %d has metadata %v beyond encoding and key ID", i, p.Metadata)
		}
	}
	raw, _ := proto.Marshal(payloads)
	assertNoPII(t, "encoded payloads", raw)
	// The original encoding (json/plain) is hidden too.
	if bytes.Contains(raw, []byte("json/plain")) {
		t.Fatal("encoded payloads reveal the inner encoding")
	}

	var (
		a     applicant
		s     string
		n     int
		null  *applicant
		bytes []byte
	)
	if err := dc.FromPayloads(payloads, &a, &s, &n, &null, &bytes); err != nil {
		t.Fatal(err)
	}
	if a != testApplicant || s != "second arg" || n != 42 || null != nil || string(bytes) != "\x00\x01\x02" {
		t.Fatalf("round trip gave %+v %q %d %v %v", a, s, n, null, bytes)
	}
}

func TestPayloadCodecDoesNotMutateInput(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	c := codec.NewPayloadCodec(k)
	plain, _ := converter.GetDefaultDataConverter().ToPayload(testApplicant)
	before := proto.Clone(plain)
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(plain, before) {
		t.Fatal("Encode modified its input")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) {
		t.Fatalf("Decode(Encode(p)) = %v, want %v", dec[0], plain)
	}
}

func TestPayloadCodecPassesUnencryptedThrough(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	plain, _ := converter.GetDefaultDataConverter().ToPayload("written before encryption was on")
	var s string
	if err := codec.NewDataConverter(k).FromPayload(plain, &s); err != nil || s != "written before encryption was on" {
		t.Fatalf("FromPayload(unencrypted) = %q, %v", s, err)
	}
}

func TestPayloadCodecKeyRotation(t *testing.T) {
	oldEntry, newEntry := genEntry(t, "k2025"), genEntry(t, "k2026")
	oldDC := codec.NewDataConverter(mustRing(t, oldEntry))
	oldPayload, err := oldDC.ToPayload(testApplicant)
	if err != nil {
		t.Fatal(err)
	}

	rotated := mustRing(t, oldEntry, newEntry)
	rotatedDC := codec.NewDataConverter(rotated)
	var a applicant
	if err := rotatedDC.FromPayload(oldPayload, &a); err != nil || a != testApplicant {
		t.Fatalf("old payload after rotation: %+v, %v", a, err)
	}
	newPayload, _ := rotatedDC.ToPayload(testApplicant)
	if id := string(newPayload.Metadata[codec.MetadataEncryptionKeyID]); id != "k2026" {
		t.Fatalf("new payload key ID = %q, want k2026", id)
	}

	retiredDC := codec.NewDataConverter(mustRing(t, newEntry))
	err = retiredDC.FromPayload(oldPayload, &a)
	if !errors.Is(err, codec.ErrUnknownKey) || !strings.Contains(err.Error(), `"k2025"`) {
		t.Fatalf("ring without the old key: err = %v, want ErrUnknownKey naming k2025", err)
	}
}

func TestPayloadCodecTampered(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"), genEntry(t, "k2"))
	c := codec.NewPayloadCodec(k)
	plain, _ := converter.GetDefaultDataConverter().ToPayload(testApplicant)
	enc, _ := c.Encode([]*commonpb.Payload{plain})

	for i := range enc[0].Data {
		bad := proto.Clone(enc[0]).(*commonpb.Payload)
		bad.Data[i] ^= 0x80
		if _, err := c.Decode([]*commonpb.Payload{bad}); !errors.Is(err, codec.ErrDecrypt) {
			t.Fatalf("byte %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}

	// Relabelling with the other key ID in the ring must not decrypt.
	swapped := proto.Clone(enc[0]).(*commonpb.Payload)
	swapped.Metadata[codec.MetadataEncryptionKeyID] = []byte("k1")
	if _, err := c.Decode([]*commonpb.Payload{swapped}); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("key ID swapped: err = %v, want ErrDecrypt", err)
	}

	noID := proto.Clone(enc[0]).(*commonpb.Payload)
	delete(noID.Metadata, codec.MetadataEncryptionKeyID)
	if _, err := c.Decode([]*commonpb.Payload{noID}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("no key ID: err = %v, want ErrMalformed", err)
	}

	short := proto.Clone(enc[0]).(*commonpb.Payload)
	short.Data = short.Data[:10]
	if _, err := c.Decode([]*commonpb.Payload{short}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("truncated: err = %v, want ErrMalformed", err)
	}
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	_, fc := codec.ClientOptions(k)

	cause := errors.New("bank rejected account of " + testApplicant.Name)
	appErr := temporal.NewApplicationErrorWithCause("NIK "+testApplicant.NIK+" failed verification",
		"VerificationFailed", cause, testApplicant)

	f := fc.ErrorToFailure(appErr)
	raw, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	assertNoPII(t, "failure proto", raw)
	js, _ := protojson.Marshal(f)
	assertNoPII(t, "failure protojson", js)
	if f.GetEncodedAttributes() == nil {
		t.Fatal("failure has no encoded attributes; message would be in plain text")
	}
	if enc := string(f.GetEncodedAttributes().GetMetadata()[converter.MetadataEncoding]); enc != codec.MetadataEncodingEncrypted {
		t.Fatalf("encoded attributes encoding = %q", enc)
	}
	// The error type is not secret and stays readable, so retry policies
	// keyed on it keep working.
	if f.GetApplicationFailureInfo().GetType() != "VerificationFailed" {
		t.Fatalf("type = %q", f.GetApplicationFailureInfo().GetType())
	}

	// Round trip through the wire form.
	var back failurepb.Failure
	if err := proto.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got := fc.FailureToError(&back)
	if !strings.Contains(got.Error(), "NIK "+testApplicant.NIK+" failed verification") {
		t.Fatalf("decoded error %q lost its message", got.Error())
	}
	var gotApp *temporal.ApplicationError
	if !errors.As(got, &gotApp) {
		t.Fatalf("decoded error is %T, want *temporal.ApplicationError", got)
	}
	var details applicant
	if err := gotApp.Details(&details); err != nil || details != testApplicant {
		t.Fatalf("details = %+v, %v", details, err)
	}
	if u := errors.Unwrap(got); u == nil || !strings.Contains(u.Error(), testApplicant.Name) {
		t.Fatalf("cause = %v, want the bank message back", u)
	}
}

func TestFailureConverterWithoutKeyFails(t *testing.T) {
	// A client with a ring that lacks the key cannot read the message: it
	// sees the placeholder, never the plaintext.
	f := codec.NewFailureConverter(mustRing(t, genEntry(t, "k1"))).ErrorToFailure(errors.New("NIK " + testApplicant.NIK))
	other := codec.NewFailureConverter(mustRing(t, genEntry(t, "k2")))
	if got := other.FailureToError(f).Error(); strings.Contains(got, testApplicant.NIK) {
		t.Fatalf("other ring decoded %q", got)
	}
}

func TestConfigureClient(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	var o client.Options
	codec.ConfigureClient(&o, k)
	if o.DataConverter == nil || o.FailureConverter == nil {
		t.Fatal("ConfigureClient left a converter unset")
	}
	p, err := o.DataConverter.ToPayload(testApplicant)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Metadata[codec.MetadataEncryptionKeyID]) != "k1" {
		t.Fatal("client data converter does not encrypt")
	}
	f := o.FailureConverter.ErrorToFailure(errors.New(testApplicant.NIK))
	raw, _ := proto.Marshal(f)
	assertNoPII(t, "client failure", raw)
}
