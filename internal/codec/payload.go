package codec

import (
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncodingEncrypted is the "encoding" metadata of an encrypted
	// payload.
	MetadataEncodingEncrypted = "binary/encrypted"
	// MetadataEncryptionKeyID is the payload metadata key that carries the ID
	// of the key the payload was encrypted with.
	MetadataEncryptionKeyID = "encryption-key-id"
)

// payloadAADPrefix separates payload ciphertexts from sealed blobs: a
// payload's Data can never be opened as a sealed row or the other way round.
const payloadAADPrefix = "awdaflow/temporal-payload/v1/"

// NewPayloadCodec returns a codec that encrypts each whole serialized payload
// (data and metadata, so even the original encoding is hidden) with
// AES-256-GCM under the ring's primary key. The encrypted payload's Data is
// nonce||ciphertext and its metadata holds only
// encoding=binary/encrypted and encryption-key-id=<key ID>.
//
// Decode accepts any key in the ring and passes payloads that are not
// encrypted through unchanged, so histories written before encryption was
// switched on stay readable. Errors carry key IDs only, never payload data.
func NewPayloadCodec(k *KeyRing) converter.PayloadCodec {
	return &payloadCodec{ring: k}
}

type payloadCodec struct{ ring *KeyRing }

// Encode implements converter.PayloadCodec.
func (c *payloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.ring.primary
	aead, err := c.ring.aead(id)
	if err != nil {
		return nil, err
	}
	aad := []byte(payloadAADPrefix + id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		ns := aead.NonceSize()
		data := make([]byte, ns, ns+len(plain)+aead.Overhead())
		if _, err := rand.Read(data); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		data = aead.Seal(data, data, plain, aad)
		clear(plain)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
				MetadataEncryptionKeyID:    []byte(id),
			},
			Data: data,
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *payloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncodingEncrypted {
			out[i] = p
			continue
		}
		rawID, ok := p.GetMetadata()[MetadataEncryptionKeyID]
		if !ok || len(rawID) == 0 {
			return nil, fmt.Errorf("%w: encrypted payload has no %s metadata", ErrMalformed, MetadataEncryptionKeyID)
		}
		id := string(rawID)
		if err := validKeyID(id); err != nil {
			return nil, fmt.Errorf("%w: encrypted payload has an invalid %s", ErrMalformed, MetadataEncryptionKeyID)
		}
		aead, err := c.ring.aead(id)
		if err != nil {
			return nil, err
		}
		ns := aead.NonceSize()
		if len(p.GetData()) < ns+aead.Overhead() {
			return nil, fmt.Errorf("%w: encrypted payload too short", ErrMalformed)
		}
		plain, err := aead.Open(nil, p.Data[:ns], p.Data[ns:], []byte(payloadAADPrefix+id))
		if err != nil {
			return nil, fmt.Errorf("%w: payload under key ID %q did not authenticate (tampered or wrong key)", ErrDecrypt, id)
		}
		decoded := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, decoded); err != nil {
			return nil, fmt.Errorf("%w: decrypted payload is not a Payload", ErrMalformed)
		}
		out[i] = decoded
	}
	return out, nil
}

// NewDataConverter is the default data converter with every payload
// encrypted by NewPayloadCodec.
func NewDataConverter(k *KeyRing) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewPayloadCodec(k))
}

// NewFailureConverter encrypts failures too: with EncodeCommonAttributes the
// error message and stack trace move into the failure's encoded attributes,
// which go through the encrypting data converter. Without it, an error text
// such as "bank account 1234 rejected" would sit in plain text in the
// history. Use it together with NewDataConverter.
func NewFailureConverter(k *KeyRing) converter.FailureConverter {
	return newFailureConverter(NewDataConverter(k))
}

func newFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}

// ClientOptions returns the data converter and failure converter every
// Temporal client of this project (worker, starter, tools) must use, built
// once so both share the same codec.
func ClientOptions(k *KeyRing) (converter.DataConverter, converter.FailureConverter) {
	dc := NewDataConverter(k)
	return dc, newFailureConverter(dc)
}

// ConfigureClient sets DataConverter and FailureConverter on o from
// ClientOptions. Call it on the client.Options before client.Dial; workers
// created from that client inherit both.
func ConfigureClient(o *client.Options, k *KeyRing) {
	o.DataConverter, o.FailureConverter = ClientOptions(k)
}
