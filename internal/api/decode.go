package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// decodeJSON reads one JSON object of at most limit bytes into v, strictly:
// unknown fields, trailing data and wrong types are refused. It answers the
// problem itself (400, 413 or 415) and returns false on failure. An empty
// body decodes as {} when allowEmpty.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64, allowEmpty bool) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			problem(w, r, http.StatusUnsupportedMediaType, TypeUnsupported, "send application/json")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem(w, r, http.StatusRequestEntityTooLarge, TypeTooLarge, "the body is too large")
			return false
		}
		problem(w, r, http.StatusBadRequest, TypeMalformed, "reading the body failed")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return true
		}
		problem(w, r, http.StatusBadRequest, TypeMalformed, "the body is empty; send a JSON object")
		return false
	}
	if fe, ok := strictUnmarshal(body, v); !ok {
		writeProblem(w, r, Problem{
			Type: TypeMalformed, Status: http.StatusBadRequest, Title: "Malformed request",
			Detail: "the body is not the JSON object this endpoint takes", Errors: fe,
		})
		return false
	}
	return true
}

// strictUnmarshal decodes body into v and describes what is wrong without
// quoting any value.
func strictUnmarshal(body []byte, v any) ([]FieldError, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return []FieldError{{Field: "body", Detail: "not a JSON object"}}, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return []FieldError{{Field: "body", Detail: "trailing data after the JSON object"}}, false
		}
		return nil, true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return []FieldError{{Field: field, Detail: "wrong JSON type: want " + jsonKind(te)}}, false
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		// encoding/json quotes the name with strconv.Quote: unquote it so a
		// name with control characters is reported as the client sent it.
		quoted := strings.TrimPrefix(msg, "json: unknown field ")
		name, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			name = strings.Trim(quoted, `"`)
		}
		return []FieldError{{Field: name, Detail: "unknown field"}}, false
	}
	return []FieldError{{Field: "body", Detail: "not valid JSON"}}, false
}

func jsonKind(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch k := te.Type.Kind().String(); k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	default:
		return k
	}
}
