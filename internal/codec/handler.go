package codec

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// PathPrefix is where NewHandler serves: POST PathPrefix+"/encode" and
// POST PathPrefix+"/decode". The Temporal UI and CLI take the endpoint
// WITHOUT the /encode or /decode suffix, i.e. http://host:port/codec.
const PathPrefix = "/codec"

// DefaultMaxBodyBytes is the request body limit when HandlerOptions leaves
// MaxBodyBytes at zero.
const DefaultMaxBodyBytes int64 = 4 << 20

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	// BearerTokens are accepted in "Authorization: Bearer <token>". Any one
	// matches. With none configured every request is refused (401) unless
	// AllowUnauthenticated is set.
	BearerTokens []string
	// AllowUnauthenticated serves requests without a token. Only for a codec
	// server bound to localhost in development, where the Temporal UI has no
	// login and so cannot send a token.
	AllowUnauthenticated bool
	// AllowedOrigins are the exact browser origins (scheme://host[:port], no
	// path, no trailing slash) of the Temporal UI, e.g.
	// "http://localhost:8233". Requests from other origins get no CORS
	// headers, so browsers block them; "*" is not supported because the UI
	// may send credentials.
	AllowedOrigins []string
	// MaxBodyBytes limits a request body; larger bodies get 413. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DataKeys decodes the payloads under applicants' data keys. Nil: only
	// ring payloads decode (the others get 400, ErrUnknownKey).
	DataKeys *DataKeys
}

// NewHandler serves the Temporal remote codec protocol for the key ring:
// POST /codec/encode and POST /codec/decode with a JSON-encoded Payloads
// message in and out (converter.NewPayloadCodecHTTPHandler does the
// protocol). Mount it on a mux at PathPrefix+"/" and keep the full path, e.g.
//
//	mux.Handle(codec.PathPrefix+"/", codec.NewHandler(ring, opts))
//
// Point the tools at http://HOST:PORT/codec (no /decode suffix; they append
// it). Flag names as of Temporal CLI v1.5.1:
//
//   - Temporal UI of the dev server:
//     temporal server start-dev --ui-codec-endpoint http://localhost:PORT/codec
//     (or, in any UI, the "Codec Server" setting: endpoint
//     http://localhost:PORT/codec, with "Pass the user access token" when
//     the UI has a login and its tokens are configured here). The UI's
//     origin, e.g. http://localhost:8233, must be in AllowedOrigins.
//   - Temporal CLI:
//     temporal workflow show -w WORKFLOW_ID --codec-endpoint http://localhost:PORT/codec --codec-auth "Bearer TOKEN"
//     (--codec-auth is sent verbatim as the Authorization header;
//     --codec-header KEY=VALUE adds others). The same flags work on every
//     command that prints payloads (workflow describe, query, result, ...).
//
// Requests need "Authorization: Bearer <token>" with one of
// opts.BearerTokens (compared in constant time); a missing or wrong token
// is 401 before the body is read. OPTIONS preflights from an allowed origin
// are answered without auth, since browsers never send credentials on a
// preflight. The X-Namespace header is accepted but not used: one key ring
// serves every namespace.
//
// A payload under an erased applicant's data key decodes to a placeholder
// (ErasedPlaceholder), not an error: the UI and CLI still show the loan's
// history, its shape and its other payloads, without that applicant's data.
func NewHandler(k *KeyRing, opts HandlerOptions) http.Handler {
	h := &codecHandler{
		inner:   converter.NewPayloadCodecHTTPHandler(&placeholderCodec{c: &payloadCodec{ring: k, keys: opts.DataKeys}}),
		origins: make(map[string]bool, len(opts.AllowedOrigins)),
		open:    opts.AllowUnauthenticated,
		maxBody: opts.MaxBodyBytes,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	for _, t := range opts.BearerTokens {
		if t == "" {
			continue
		}
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	for _, o := range opts.AllowedOrigins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o != "" && o != "*" {
			h.origins[o] = true
		}
	}
	return h
}

type codecHandler struct {
	inner   http.Handler
	tokens  [][sha256.Size]byte
	open    bool
	origins map[string]bool
	maxBody int64
}

const (
	allowHeaders = "Authorization, Content-Type, X-Namespace"
	allowMethods = "POST, OPTIONS"
)

func (h *codecHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	corsOK := origin != "" && h.origins[origin]
	if origin != "" {
		w.Header().Add("Vary", "Origin")
	}
	if corsOK {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}

	if r.URL.Path != PathPrefix+"/encode" && r.URL.Path != PathPrefix+"/decode" {
		http.NotFound(w, r)
		return
	}

	switch r.Method {
	case http.MethodOptions:
		if !corsOK {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		w.Header().Set("Access-Control-Allow-Methods", allowMethods)
		w.Header().Set("Access-Control-Allow-Headers", allowHeaders)
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", allowMethods)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}

	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="codec"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}

	if r.Body == nil {
		http.Error(w, "empty body", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body failed", http.StatusBadRequest)
		return
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	w.Header().Set("Cache-Control", "no-store")
	h.inner.ServeHTTP(w, r2)
}

func (h *codecHandler) authorized(r *http.Request) bool {
	if h.open {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for i := range h.tokens {
		// Compare against every token so timing says nothing about which
		// (or whether one) matched.
		match |= subtle.ConstantTimeCompare(got[:], h.tokens[i][:])
	}
	return match == 1
}

// MetadataErased marks a placeholder payload the codec server answers for a
// payload under an erased data key; its value is the key ID.
const MetadataErased = "awdaflow-erased"

// ErasedPlaceholder is the payload that stands for one encrypted under an
// erased data key: JSON {"erased":true,"detail":...} naming the key ID and
// the date of the erasure, with MetadataErased set.
func ErasedPlaceholder(e *ErasedError) *commonpb.Payload {
	detail := "personal data erased on " + e.ErasedAt.UTC().Format(time.RFC3339) + " (data key " + e.KeyID + " destroyed)"
	data, _ := json.Marshal(struct {
		Erased bool   `json:"erased"`
		Detail string `json:"detail"`
	}{true, detail})
	return &commonpb.Payload{
		Metadata: map[string][]byte{
			converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON),
			MetadataErased:             []byte(e.KeyID),
		},
		Data: data,
	}
}

// placeholderCodec is the codec server's: it decodes payload by payload and
// answers a payload under an erased key with ErasedPlaceholder.
type placeholderCodec struct{ c *payloadCodec }

func (p *placeholderCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return p.c.Encode(payloads)
}

func (p *placeholderCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, pl := range payloads {
		d, err := p.c.decodeOne(pl)
		var erased *ErasedError
		switch {
		case errors.As(err, &erased):
			d = ErasedPlaceholder(erased)
		case err != nil:
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}
