package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// memKeys is an in-memory codec.KeySource with the store's semantics (the
// first key inserted for an applicant wins); internal/store tests the
// PostgreSQL one. lookups counts the calls that reached it.
type memKeys struct {
	mu      sync.Mutex
	byRef   map[string]*codec.DataKeyRecord
	lookups int
	down    bool // every call fails, as with PostgreSQL away
}

var errDown = errors.New("key source unreachable")

func newMemKeys() *memKeys { return &memKeys{byRef: map[string]*codec.DataKeyRecord{}} }

func (m *memKeys) DataKeyByRef(_ context.Context, ref string) (*codec.DataKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.down {
		return nil, errDown
	}
	r, ok := m.byRef[ref]
	if !ok {
		return nil, codec.ErrNoDataKey
	}
	c := *r
	return &c, nil
}

func (m *memKeys) DataKeyByID(_ context.Context, id string) (*codec.DataKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.down {
		return nil, errDown
	}
	for _, r := range m.byRef {
		if r.ID == id {
			c := *r
			return &c, nil
		}
	}
	return nil, codec.ErrNoDataKey
}

func (m *memKeys) InsertDataKey(_ context.Context, rec codec.DataKeyRecord) (*codec.DataKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.byRef[rec.ApplicantRef]; ok {
		c := *r
		return &c, nil
	}
	m.byRef[rec.ApplicantRef] = &rec
	c := rec
	return &c, nil
}

func (m *memKeys) erase(ref string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.byRef[ref]
	r.Sealed, r.ErasedAt = nil, at
}

func loanRef(wfID string) (string, bool) {
	ref, ok := strings.CutPrefix(wfID, "loan:")
	return ref, ok
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newKeys(t *testing.T, ring *codec.KeyRing, src codec.KeySource, clk *clock) *codec.DataKeys {
	t.Helper()
	return codec.NewDataKeys(ring, src, codec.DataKeysOptions{ApplicantOf: loanRef, CacheTTL: time.Minute, Now: clk.now})
}

func encodeFor(t *testing.T, dc converter.DataConverter, sc converter.SerializationContext, v any) *commonpb.Payload {
	t.Helper()
	if sc != nil {
		dc = converter.WithDataConverterSerializationContext(dc, sc)
	}
	p, err := dc.ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(p)
	assertNoPII(t, "encoded payload", raw)
	return p
}

func TestDataKeysContextDispatch(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	dc := codec.NewDataConverterWithKeys(ring, newKeys(t, ring, src, &clock{time.Now()}))

	cases := []struct {
		name      string
		sc        converter.SerializationContext
		applicant bool
	}{
		{"no context", nil, false},
		{"loan workflow", converter.WorkflowSerializationContext{Namespace: "default", WorkflowID: "loan:app-1"}, true},
		{"loan activity", converter.ActivitySerializationContext{WorkflowID: "loan:app-1", ActivityType: "X"}, true},
		{"other workflow", converter.WorkflowSerializationContext{WorkflowID: "awdaflow-retention-documents"}, false},
	}
	var loanKey string
	for _, tc := range cases {
		p := encodeFor(t, dc, tc.sc, testApplicant)
		id := string(p.Metadata[codec.MetadataEncryptionKeyID])
		scope := string(p.Metadata[codec.MetadataEncryptionScope])
		if tc.applicant {
			if !codec.IsDataKeyID(id) || scope != codec.ScopeApplicant {
				t.Fatalf("%s: key %q scope %q, want a data key", tc.name, id, scope)
			}
			if loanKey != "" && id != loanKey {
				t.Fatalf("%s: key %s, the same loan had %s", tc.name, id, loanKey)
			}
			loanKey = id
		} else if id != "k1" || scope != "" {
			t.Fatalf("%s: key %q scope %q, want the ring's k1", tc.name, id, scope)
		}
		// Decoding needs no context: the metadata says which key.
		var got applicant
		if err := dc.FromPayload(p, &got); err != nil || got != testApplicant {
			t.Fatalf("%s: decode = %+v, %v", tc.name, got, err)
		}
	}
	other := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-2"}, testApplicant)
	if id := string(other.Metadata[codec.MetadataEncryptionKeyID]); id == loanKey || !codec.IsDataKeyID(id) {
		t.Fatalf("second applicant got key %q (first %s)", id, loanKey)
	}
	if strings.Contains(loanKey, "app-1") {
		t.Fatalf("data key ID %s is derived from the applicant ref", loanKey)
	}
	// A ring-only codec cannot read a data key's payload.
	p := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}, testApplicant)
	var got applicant
	if err := codec.NewDataConverter(ring).FromPayload(p, &got); !errors.Is(err, codec.ErrUnknownKey) {
		t.Fatalf("ring-only decode: %v, want ErrUnknownKey", err)
	}
}

func TestDataKeysNilMeansRingOnly(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	dc := codec.NewDataConverterWithKeys(ring, nil)
	p := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}, testApplicant)
	if id := string(p.Metadata[codec.MetadataEncryptionKeyID]); id != "k1" {
		t.Fatalf("key %q, want k1", id)
	}
}

func TestDataKeysErasedAndCacheExpiry(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	clk := &clock{time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)}
	keys := newKeys(t, ring, src, clk)
	dc := codec.NewDataConverterWithKeys(ring, keys)
	p := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}, testApplicant)
	keyID := string(p.Metadata[codec.MetadataEncryptionKeyID])
	keep := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-2"}, testApplicant)

	erasedAt := clk.t.Add(time.Second)
	src.erase("app-1", erasedAt)
	// Within the TTL this process still has the key cached.
	clk.t = clk.t.Add(30 * time.Second)
	var got applicant
	if err := dc.FromPayload(p, &got); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	// After it, the erasure shows.
	clk.t = clk.t.Add(31 * time.Second)
	err := dc.FromPayload(p, &got)
	var erased *codec.ErasedError
	if !errors.Is(err, codec.ErrErased) || !errors.As(err, &erased) {
		t.Fatalf("after the TTL: %v, want ErrErased", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, keyID) || !strings.Contains(msg, "2026-12-05T01:00:01Z") || strings.Contains(msg, "app-1") {
		t.Fatalf("error %q: want the key ID and date, not the applicant", msg)
	}
	// Encoding for the erased applicant fails too: no new key is made.
	if _, err := converter.WithDataConverterSerializationContext(dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}).ToPayload(1); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("encode for an erased applicant: %v", err)
	}
	// Another applicant still decodes.
	if err := dc.FromPayload(keep, &got); err != nil || got != testApplicant {
		t.Fatalf("other applicant: %+v, %v", got, err)
	}
}

func TestDataKeysCacheAndForget(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	clk := &clock{time.Now()}
	keys := newKeys(t, ring, src, clk)
	dc := codec.NewDataConverterWithKeys(ring, keys)
	sc := converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}
	p := encodeFor(t, dc, sc, testApplicant)
	before := src.lookups
	for i := 0; i < 5; i++ {
		encodeFor(t, dc, sc, testApplicant)
		var got applicant
		if err := dc.FromPayload(p, &got); err != nil {
			t.Fatal(err)
		}
	}
	if src.lookups != before {
		t.Fatalf("%d source lookups for cached keys", src.lookups-before)
	}
	src.erase("app-1", clk.t)
	keys.Forget("app-1")
	var got applicant
	if err := dc.FromPayload(p, &got); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("after Forget: %v, want ErrErased at once", err)
	}
}

func TestDataKeysCreateRace(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A process each: no shared cache.
			k := newKeys(t, ring, src, &clock{time.Now()})
			id, err := k.ForApplicant(context.Background(), "app-1")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("racing creators got different keys: %v", ids)
		}
	}
}

func TestDataKeysSealFor(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	keys := newKeys(t, ring, src, &clock{time.Now()})
	blob, err := keys.SealFor(context.Background(), "app-1", []byte(testApplicant.NIK), []byte("documents/1"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoPII(t, "sealed", blob)
	if id, _ := codec.SealedKeyID(blob); !codec.IsDataKeyID(id) {
		t.Fatalf("sealed under %q, want a data key", id)
	}
	if pt, err := keys.Open(blob, []byte("documents/1")); err != nil || string(pt) != testApplicant.NIK {
		t.Fatalf("open = %q, %v", pt, err)
	}
	ringBlob, _ := keys.Seal([]byte("x"), nil)
	if pt, err := keys.Open(ringBlob, nil); err != nil || string(pt) != "x" {
		t.Fatalf("ring blob: %q, %v", pt, err)
	}
	src.erase("app-1", time.Now())
	keys.Forget("app-1")
	if _, err := keys.Open(blob, []byte("documents/1")); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("open after erasure: %v", err)
	}
}

func TestDataKeysResealAfterRingRotation(t *testing.T) {
	old, next := genEntry(t, "k1"), genEntry(t, "k2")
	ring1 := mustRing(t, old)
	src := newMemKeys()
	dc1 := codec.NewDataConverterWithKeys(ring1, newKeys(t, ring1, src, &clock{time.Now()}))
	p := encodeFor(t, dc1, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}, testApplicant)

	ring2 := mustRing(t, old, next)
	keys2 := newKeys(t, ring2, src, &clock{time.Now()})
	for _, r := range src.byRef {
		nr, err := keys2.Reseal(*r)
		if err != nil {
			t.Fatal(err)
		}
		if nr.RingKeyID != "k2" {
			t.Fatalf("resealed under %s", nr.RingKeyID)
		}
		*r = nr
	}
	// The old ring key is gone; the payload still decodes.
	ring3 := mustRing(t, next)
	dc3 := codec.NewDataConverterWithKeys(ring3, newKeys(t, ring3, src, &clock{time.Now()}))
	var got applicant
	if err := dc3.FromPayload(p, &got); err != nil || got != testApplicant {
		t.Fatalf("after rotation: %+v, %v", got, err)
	}
}

func TestFailureConverterUsesDataKey(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	dc, fc := codec.ClientOptionsWithKeys(ring, newKeys(t, ring, newMemKeys(), &clock{time.Now()}))
	_ = dc
	fcl := converter.WithFailureConverterSerializationContext(fc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"})
	f := fcl.ErrorToFailure(errors.New("NIK " + testApplicant.NIK))
	raw, _ := proto.Marshal(f)
	assertNoPII(t, "failure", raw)
	if id := string(f.GetEncodedAttributes().GetMetadata()[codec.MetadataEncryptionKeyID]); !codec.IsDataKeyID(id) {
		t.Fatalf("failure attributes under %q, want the applicant's data key", id)
	}
	if got := fc.FailureToError(f).Error(); !strings.Contains(got, testApplicant.NIK) {
		t.Fatalf("decoded failure %q", got)
	}
}

func TestRingRefusesDataKeyPrefix(t *testing.T) {
	if _, err := codec.ParseKeyRing(genEntry(t, "k1") + "," + strings.Replace(genEntry(t, "k2"), "k2=", "dk_2=", 1)); err == nil {
		t.Fatal("a ring key named dk_… was accepted")
	}
}

func TestHandlerAnswersErasedWithPlaceholder(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	keys := newKeys(t, ring, src, &clock{time.Now()})
	dc := codec.NewDataConverterWithKeys(ring, keys)
	gone := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}, testApplicant)
	kept := encodeFor(t, dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-2"}, "still here")
	ringP := encodeFor(t, dc, nil, "ring")
	erasedAt := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	src.erase("app-1", erasedAt)
	keys.Forget("app-1")

	srv := newCodecServer(t, ring, codec.HandlerOptions{BearerTokens: []string{"tok"}, DataKeys: keys})
	resp, body := post(t, srv.URL+codec.PathPrefix+"/decode", "Bearer tok", payloadsJSON(t, []*commonpb.Payload{gone, kept, ringP}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertNoPII(t, "decode answer", body)
	out := parsePayloads(t, body)
	if len(out) != 3 {
		t.Fatalf("%d payloads", len(out))
	}
	if string(out[0].Metadata[codec.MetadataErased]) != string(gone.Metadata[codec.MetadataEncryptionKeyID]) {
		t.Fatalf("placeholder metadata %v", out[0].Metadata)
	}
	var ph struct {
		Erased bool
		Detail string
	}
	if err := json.Unmarshal(out[0].Data, &ph); err != nil || !ph.Erased || !strings.Contains(ph.Detail, "2026-12-05T02:00:00Z") {
		t.Fatalf("placeholder %s (%v)", out[0].Data, err)
	}
	for i, want := range []string{"still here", "ring"} {
		var s string
		if err := converter.GetDefaultDataConverter().FromPayload(out[i+1], &s); err != nil || s != want {
			t.Fatalf("payload %d = %q, %v", i+1, s, err)
		}
	}
}

func TestDataKeysServeStaleWhileTheSourceIsDown(t *testing.T) {
	ring := mustRing(t, genEntry(t, "k1"))
	src := newMemKeys()
	clk := &clock{time.Now()}
	dc := codec.NewDataConverterWithKeys(ring, newKeys(t, ring, src, clk))
	sc := converter.WorkflowSerializationContext{WorkflowID: "loan:app-1"}
	p := encodeFor(t, dc, sc, testApplicant)

	src.mu.Lock()
	src.down = true
	src.mu.Unlock()
	clk.t = clk.t.Add(2 * time.Minute) // past the TTL (1m)
	var got applicant
	if err := dc.FromPayload(p, &got); err != nil {
		t.Fatalf("decode with the source down, within the stale window: %v", err)
	}
	encodeFor(t, dc, sc, testApplicant)
	clk.t = clk.t.Add(time.Hour) // past the stale window too
	if err := dc.FromPayload(p, &got); err == nil || !errors.Is(err, errDown) {
		t.Fatalf("decode long after the TTL with the source down: %v, want its error", err)
	}
	// A new applicant needs the source.
	if _, err := converter.WithDataConverterSerializationContext(dc, converter.WorkflowSerializationContext{WorkflowID: "loan:app-2"}).ToPayload(1); !errors.Is(err, errDown) {
		t.Fatalf("new applicant with the source down: %v", err)
	}
}
