package codec_test

import (
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/awdaflow/awdaflow/internal/codec"
)

func benchPayload(b *testing.B) []*commonpb.Payload {
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{
		"nik": testApplicant.NIK, "name": testApplicant.Name, "blob": strings.Repeat("x", 2000),
	})
	if err != nil {
		b.Fatal(err)
	}
	return []*commonpb.Payload{p}
}

// BenchmarkCodecEncode encrypts one ~2 KiB payload.
func BenchmarkCodecEncode(b *testing.B) {
	c := codec.NewPayloadCodec(mustRing(b, genEntry(b, "k1")))
	ps := benchPayload(b)
	b.SetBytes(int64(len(ps[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(ps); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodecDecode decrypts one ~2 KiB payload.
func BenchmarkCodecDecode(b *testing.B) {
	c := codec.NewPayloadCodec(mustRing(b, genEntry(b, "k1")))
	enc, err := c.Encode(benchPayload(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDataKeyEncode encrypts one ~2 KiB payload of a loan under its
// applicant's data key, cached: what a workflow task pays per payload,
// context included.
func BenchmarkDataKeyEncode(b *testing.B) {
	ring := mustRing(b, genEntry(b, "k1"))
	keys := codec.NewDataKeys(ring, newMemKeys(), codec.DataKeysOptions{ApplicantOf: loanRef})
	c := codec.NewPayloadCodecWithKeys(ring, keys).(converter.PayloadCodecWithSerializationContext)
	ps := benchPayload(b)
	b.SetBytes(int64(len(ps[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		cc := c.WithSerializationContext(converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"})
		if _, err := cc.Encode(ps); err != nil {
			b.Fatal(err)
		}
	}
}
