package codec

import (
	"crypto/cipher"
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

// MetadataEncryptionScope marks a payload encrypted under an applicant's
// data key (value ScopeApplicant); payloads under a ring key have none.
const (
	MetadataEncryptionScope = "encryption-key-scope"
	ScopeApplicant          = "applicant"
)

// NewPayloadCodec returns a codec that encrypts each whole serialized payload
// (data and metadata, so even the original encoding is hidden) with
// AES-256-GCM under the ring's primary key. The encrypted payload's Data is
// nonce||ciphertext and its metadata holds only
// encoding=binary/encrypted and encryption-key-id=<key ID>.
//
// Decode accepts any key in the ring and passes payloads that are not
// encrypted through unchanged, so histories written before encryption was
// switched on stay readable. Errors carry key IDs only, never payload data.
// Payloads under an applicant's data key do not decode with it
// (ErrUnknownKey): use NewPayloadCodecWithKeys.
func NewPayloadCodec(k *KeyRing) converter.PayloadCodec {
	return &payloadCodec{ring: k}
}

// NewPayloadCodecWithKeys is NewPayloadCodec with applicant data keys: given
// a serialization context (the SDK gives one for every workflow and activity
// payload) whose workflow is an applicant's (DataKeysOptions.ApplicantOf),
// it encrypts under that applicant's data key, with the key's ID and
// encryption-key-scope=applicant in the metadata; without one, under the
// ring's primary key as NewPayloadCodec does. Decode goes by the metadata
// alone, so it needs no context (the codec server, replay): a payload under
// an erased key fails with an *ErasedError. keys nil is NewPayloadCodec.
func NewPayloadCodecWithKeys(k *KeyRing, keys *DataKeys) converter.PayloadCodec {
	return &payloadCodec{ring: k, keys: keys}
}

type payloadCodec struct {
	ring *KeyRing
	keys *DataKeys
	ref  string // the applicant whose key encrypts; "" for the ring
}

// WithSerializationContext implements
// converter.PayloadCodecWithSerializationContext.
func (c *payloadCodec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	if c.keys == nil || c.keys.applicantOf == nil {
		return c
	}
	var wfID string
	switch x := sc.(type) {
	case converter.WorkflowSerializationContext:
		wfID = x.WorkflowID
	case converter.ActivitySerializationContext:
		wfID = x.WorkflowID
	}
	ref, ok := "", false
	if wfID != "" {
		ref, ok = c.keys.applicantOf(wfID)
	}
	if !ok {
		ref = ""
	}
	if ref == c.ref {
		return c
	}
	return &payloadCodec{ring: c.ring, keys: c.keys, ref: ref}
}

// encoder returns the AEAD, key ID and metadata Encode uses.
func (c *payloadCodec) encoder() (cipher.AEAD, string, map[string][]byte, error) {
	if c.ref == "" {
		id := c.ring.primary
		aead, err := c.ring.aead(id)
		return aead, id, map[string][]byte{
			converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
			MetadataEncryptionKeyID:    []byte(id),
		}, err
	}
	ctx, cancel := lookupContext()
	defer cancel()
	k, err := c.keys.forApplicant(ctx, c.ref)
	if err == nil {
		err = k.usable()
	}
	if err != nil {
		return nil, "", nil, err
	}
	return k.aead, k.id, map[string][]byte{
		converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
		MetadataEncryptionKeyID:    []byte(k.id),
		MetadataEncryptionScope:    []byte(ScopeApplicant),
	}, nil
}

// Encode implements converter.PayloadCodec.
func (c *payloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead, id, meta, err := c.encoder()
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
		m := make(map[string][]byte, len(meta))
		for k, v := range meta {
			m[k] = v
		}
		out[i] = &commonpb.Payload{Metadata: m, Data: data}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *payloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		d, err := c.decodeOne(p)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *payloadCodec) decodeOne(p *commonpb.Payload) (*commonpb.Payload, error) {
	if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncodingEncrypted {
		return p, nil
	}
	rawID, ok := p.GetMetadata()[MetadataEncryptionKeyID]
	if !ok || len(rawID) == 0 {
		return nil, fmt.Errorf("%w: encrypted payload has no %s metadata", ErrMalformed, MetadataEncryptionKeyID)
	}
	id := string(rawID)
	if err := validKeyID(id); err != nil {
		return nil, fmt.Errorf("%w: encrypted payload has an invalid %s", ErrMalformed, MetadataEncryptionKeyID)
	}
	aead, err := c.decoder(id, string(p.GetMetadata()[MetadataEncryptionScope]))
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
	return decoded, nil
}

// decoder finds the key a payload names: a data key when its scope or ID
// says so, else a ring key.
func (c *payloadCodec) decoder(id, scope string) (cipher.AEAD, error) {
	if scope != ScopeApplicant && !IsDataKeyID(id) {
		return c.ring.aead(id)
	}
	if c.keys == nil {
		return nil, fmt.Errorf("%w: payload under applicant data key %s, and this codec has no data keys", ErrUnknownKey, id)
	}
	ctx, cancel := lookupContext()
	defer cancel()
	k, err := c.keys.byKeyID(ctx, id)
	if err == nil {
		err = k.usable()
	}
	if err != nil {
		return nil, err
	}
	return k.aead, nil
}

// NewDataConverter is the default data converter with every payload
// encrypted by NewPayloadCodec.
func NewDataConverter(k *KeyRing) converter.DataConverter {
	return NewDataConverterWithKeys(k, nil)
}

// NewDataConverterWithKeys is the default data converter with every payload
// encrypted by NewPayloadCodecWithKeys (keys nil: NewDataConverter).
func NewDataConverterWithKeys(k *KeyRing, keys *DataKeys) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewPayloadCodecWithKeys(k, keys))
}

// NewFailureConverter encrypts failures too: with EncodeCommonAttributes the
// error message and stack trace move into the failure's encoded attributes,
// which go through the encrypting data converter. Without it, an error text
// such as "bank account 1234 rejected" would sit in plain text in the
// history. Use it together with NewDataConverter.
func NewFailureConverter(k *KeyRing) converter.FailureConverter {
	return newFailureConverter(NewDataConverter(k))
}

// failureConverter passes the serialization context on to its data
// converter, so a loan's error texts are encrypted under its applicant's
// data key like the rest of its payloads (temporal's default failure
// converter does not take a context).
type failureConverter struct {
	converter.FailureConverter
	dc converter.DataConverter
}

func newFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return &failureConverter{
		FailureConverter: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter:          dc,
			EncodeCommonAttributes: true,
		}),
		dc: dc,
	}
}

// WithSerializationContext implements
// converter.FailureConverterWithSerializationContext.
func (f *failureConverter) WithSerializationContext(sc converter.SerializationContext) converter.FailureConverter {
	dc := converter.WithDataConverterSerializationContext(f.dc, sc)
	if dc == f.dc {
		return f
	}
	return newFailureConverter(dc)
}

// ClientOptions returns the data converter and failure converter every
// Temporal client of this project (worker, starter, tools) must use, built
// once so both share the same codec. The ring's primary key encrypts every
// payload: ClientOptionsWithKeys adds the applicants' data keys.
func ClientOptions(k *KeyRing) (converter.DataConverter, converter.FailureConverter) {
	return ClientOptionsWithKeys(k, nil)
}

// ClientOptionsWithKeys is ClientOptions with the applicants' data keys
// (NewPayloadCodecWithKeys); keys nil means ring only.
func ClientOptionsWithKeys(k *KeyRing, keys *DataKeys) (converter.DataConverter, converter.FailureConverter) {
	dc := NewDataConverterWithKeys(k, keys)
	return dc, newFailureConverter(dc)
}

// ConfigureClient sets DataConverter and FailureConverter on o from
// ClientOptions. Call it on the client.Options before client.Dial; workers
// created from that client inherit both.
func ConfigureClient(o *client.Options, k *KeyRing) {
	o.DataConverter, o.FailureConverter = ClientOptions(k)
}

// ConfigureClientWithKeys is ConfigureClient with the applicants' data keys.
func ConfigureClientWithKeys(o *client.Options, k *KeyRing, keys *DataKeys) {
	o.DataConverter, o.FailureConverter = ClientOptionsWithKeys(k, keys)
}
