package loansim

import (
	"bytes"
	"fmt"
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// inspector wraps the project's encrypting data converter and looks at
// every payload it hands to Temporal: a payload that is not encrypted, or
// that carries a borrower's data in plain text, is a finding. It also
// serves as the environment's logger and scans every log line.
type inspector struct {
	converter.DataConverter
	pii [][]byte

	mu       sync.Mutex
	payloads int
	plain    int      // payloads not encrypted
	leaks    []string // where PII was found (never the PII itself)
	logLeaks int
}

func newInspector(dc converter.DataConverter, pii []string) *inspector {
	in := &inspector{DataConverter: dc}
	for _, p := range pii {
		if p != "" {
			in.pii = append(in.pii, []byte(p))
		}
	}
	return in
}

func (in *inspector) look(p *commonpb.Payload, where string) {
	if p == nil {
		return
	}
	raw, _ := proto.Marshal(p)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.payloads++
	if string(p.GetMetadata()[converter.MetadataEncoding]) != codec.MetadataEncodingEncrypted {
		in.plain++
	}
	for i, pii := range in.pii {
		if bytes.Contains(raw, pii) {
			in.leaks = append(in.leaks, fmt.Sprintf("%s: PII item #%d in a payload", where, i))
		}
	}
}

// ToPayload implements converter.DataConverter.
func (in *inspector) ToPayload(v any) (*commonpb.Payload, error) {
	p, err := in.DataConverter.ToPayload(v)
	in.look(p, fmt.Sprintf("%T", v))
	return p, err
}

// ToPayloads implements converter.DataConverter.
func (in *inspector) ToPayloads(vs ...any) (*commonpb.Payloads, error) {
	ps, err := in.DataConverter.ToPayloads(vs...)
	for i, p := range ps.GetPayloads() {
		where := "payload"
		if i < len(vs) {
			where = fmt.Sprintf("%T", vs[i])
		}
		in.look(p, where)
	}
	return ps, err
}

// findings returns what the inspector saw.
func (in *inspector) findings() (payloads, plain int, leaks []string, logLeaks int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.payloads, in.plain, append([]string(nil), in.leaks...), in.logLeaks
}

// logger is a log.Logger that drops every line after scanning it for PII
// (Info and above; the SDK's Debug lines carry no payloads).
type logger struct{ in *inspector }

var _ log.Logger = logger{}

func (l logger) scan(msg string, kv []any) {
	line := []byte(msg + fmt.Sprint(kv...))
	for _, p := range l.in.pii {
		if bytes.Contains(line, p) {
			l.in.mu.Lock()
			l.in.logLeaks++
			l.in.mu.Unlock()
			return
		}
	}
}

func (l logger) Debug(string, ...any)        {}
func (l logger) Info(msg string, kv ...any)  { l.scan(msg, kv) }
func (l logger) Warn(msg string, kv ...any)  { l.scan(msg, kv) }
func (l logger) Error(msg string, kv ...any) { l.scan(msg, kv) }
