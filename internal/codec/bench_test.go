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
