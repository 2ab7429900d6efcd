package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
)

// DocumentUpload is the JSON form of POST /v1/documents; the multipart form
// has the same fields, with the bytes in the file part "file".
type DocumentUpload struct {
	ImageType    awda.ImageType `json:"imageType"`
	Base64       string         `json:"base64"`
	FileName     string         `json:"fileName,omitempty"`
	ApplicantRef string         `json:"applicantRef,omitempty"`
}

// DocumentResponse answers POST /v1/documents: 201 for a new document, 200
// when the same image was uploaded before for the same applicant and type.
type DocumentResponse struct {
	DocumentID  string         `json:"documentId"`
	ImageType   awda.ImageType `json:"imageType"`
	ContentType string         `json:"contentType"`
	Size        int            `json:"size"`
}

// acceptedImageTypes are the content types AWDA takes for identity images,
// as sniffed from the bytes (the client's claim is not trusted).
var acceptedImageTypes = map[string]bool{"image/jpeg": true, "image/png": true}

// multipartOverhead allows for the form's other fields and boundaries.
const multipartOverhead = 64 << 10

func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request) {
	up, data, ok := s.readUpload(w, r)
	if !ok {
		return
	}
	if fe := up.validate(data); len(fe) > 0 {
		validationProblem(w, r, fe)
		return
	}
	if int64(len(data)) > s.maxDoc {
		problem(w, r, http.StatusRequestEntityTooLarge, TypeTooLarge, "the document is too large")
		return
	}
	ct := http.DetectContentType(data)
	if !acceptedImageTypes[ct] {
		writeProblem(w, r, Problem{Type: TypeUnsupported, Status: http.StatusUnsupportedMediaType,
			Detail: "the document must be a JPEG or PNG image", Errors: []FieldError{{Field: "file", Detail: "not a JPEG or PNG image"}}})
		return
	}
	// The same image uploaded again for the same applicant and type is the
	// same document: a client retrying an upload (or re-running a script)
	// gets the ID it already has, and its application stays the same body.
	if up.ApplicantRef != "" {
		id, err := s.sameDocument(r.Context(), up, data)
		switch {
		case err == nil:
			w.Header().Set("Location", "/v1/documents/"+id)
			writeJSON(w, http.StatusOK, DocumentResponse{DocumentID: id, ImageType: up.ImageType, ContentType: ct, Size: len(data)})
			return
		case !errors.Is(err, pgx.ErrNoRows):
			s.unavailable(w, r, "database", err)
			return
		}
	}
	id, err := s.store.PutDocument(r.Context(), store.DocumentInput{
		ApplicantRef: up.ApplicantRef, ImageType: string(up.ImageType), ContentType: ct,
		FileName: up.FileName, Bytes: data,
	})
	if errors.Is(err, codec.ErrErased) {
		problem(w, r, http.StatusConflict, TypeErased, "this applicant's personal data was erased; nothing more is stored for them")
		return
	}
	if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	w.Header().Set("Location", "/v1/documents/"+id)
	writeJSON(w, http.StatusCreated, DocumentResponse{DocumentID: id, ImageType: up.ImageType, ContentType: ct, Size: len(data)})
}

// readUpload reads the upload, a multipart form or JSON with the image in
// base64, and answers the request itself when it cannot (ok false).
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (up DocumentUpload, data []byte, ok bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		problem(w, r, http.StatusUnsupportedMediaType, TypeUnsupported, "send multipart/form-data or application/json")
		return up, nil, false
	}
	switch {
	case mt == "multipart/form-data":
		return s.readMultipart(w, r, params["boundary"])
	case mt == "application/json":
		if !decodeJSON(w, r, &up, s.maxDoc*4/3+multipartOverhead, false) {
			return up, nil, false
		}
		if up.Base64 == "" {
			validationProblem(w, r, []FieldError{{Field: "base64", Detail: "required"}})
			return up, nil, false
		}
		b64 := strings.TrimRight(up.Base64, "=")
		data, err = base64.RawStdEncoding.DecodeString(b64)
		if err != nil {
			validationProblem(w, r, []FieldError{{Field: "base64", Detail: "not standard base64"}})
			return up, nil, false
		}
		up.Base64 = ""
		return up, data, true
	default:
		problem(w, r, http.StatusUnsupportedMediaType, TypeUnsupported, "send multipart/form-data or application/json")
		return up, nil, false
	}
}

// validate checks the upload's fields and normalises its file name to a
// base name.
func (up *DocumentUpload) validate(data []byte) fieldErrors {
	var fe fieldErrors
	switch {
	case up.ImageType == "":
		fe.add("imageType", "required")
	case !awda.ValidImageType(up.ImageType):
		fe.add("imageType", "must be KTP, SELFIE or OTHER")
	}
	if up.ApplicantRef != "" && !ValidRef(up.ApplicantRef) {
		fe.add("applicantRef", "not an applicant ref")
	}
	up.FileName = path.Base(strings.ReplaceAll(up.FileName, `\`, "/"))
	if up.FileName == "." || up.FileName == "/" {
		up.FileName = ""
	}
	if len(up.FileName) > 255 {
		fe.add("fileName", "longer than 255 characters")
	}
	if len(data) == 0 {
		fe.add("file", "empty document")
	}
	return fe
}

// sameDocument finds the document already stored with these bytes for the
// same applicant and image type; pgx.ErrNoRows when there is none.
func (s *Server) sameDocument(ctx context.Context, up DocumentUpload, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	var id string
	err := s.store.Pool().QueryRow(ctx, `SELECT id::text FROM documents
		WHERE applicant_ref = $1 AND image_type = $2 AND sha256 = $3 ORDER BY created_at LIMIT 1`,
		up.ApplicantRef, string(up.ImageType), hex.EncodeToString(sum[:])).Scan(&id)
	return id, err
}

// readMultipart streams the form: text fields imageType, applicantRef,
// fileName, and the file part "file" (its file name is kept, sealed).
func (s *Server) readMultipart(w http.ResponseWriter, r *http.Request, boundary string) (DocumentUpload, []byte, bool) {
	var up DocumentUpload
	if boundary == "" {
		problem(w, r, http.StatusBadRequest, TypeMalformed, "multipart body without a boundary")
		return up, nil, false
	}
	body := http.MaxBytesReader(w, r.Body, s.maxDoc+multipartOverhead)
	mr := multipart.NewReader(body, boundary)
	var data []byte
	gotFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.bodyError(w, r, err)
			return up, nil, false
		}
		switch part.FormName() {
		case "file":
			if gotFile {
				problem(w, r, http.StatusBadRequest, TypeMalformed, "more than one file part")
				return up, nil, false
			}
			gotFile = true
			if up.FileName == "" {
				up.FileName = part.FileName()
			}
			data, err = io.ReadAll(io.LimitReader(part, s.maxDoc+1))
			if err != nil {
				s.bodyError(w, r, err)
				return up, nil, false
			}
			if int64(len(data)) > s.maxDoc {
				problem(w, r, http.StatusRequestEntityTooLarge, TypeTooLarge, "the document is too large")
				return up, nil, false
			}
		case "imageType", "applicantRef", "fileName":
			v, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				s.bodyError(w, r, err)
				return up, nil, false
			}
			switch part.FormName() {
			case "imageType":
				up.ImageType = awda.ImageType(strings.TrimSpace(string(v)))
			case "applicantRef":
				up.ApplicantRef = strings.TrimSpace(string(v))
			case "fileName":
				up.FileName = strings.TrimSpace(string(v))
			}
		default:
			validationProblem(w, r, []FieldError{{Field: part.FormName(), Detail: "unknown form field"}})
			return up, nil, false
		}
	}
	if !gotFile {
		validationProblem(w, r, []FieldError{{Field: "file", Detail: "required"}})
		return up, nil, false
	}
	return up, data, true
}

func (s *Server) bodyError(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem(w, r, http.StatusRequestEntityTooLarge, TypeTooLarge, "the body is too large")
		return
	}
	problem(w, r, http.StatusBadRequest, TypeMalformed, "the multipart body is malformed")
}
