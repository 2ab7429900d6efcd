package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
)

// UploadMethod says how images reach AWDA.
type UploadMethod string

const (
	// UploadStream sends the file as multipart/form-data with an upload
	// token (AWDA's "upload image (1)"). The default.
	UploadStream UploadMethod = "STREAM"
	// UploadBase64 sends the file base64-encoded in JSON ("upload image (2)").
	UploadBase64 UploadMethod = "BASE64"
)

// DocumentRef names one stored document and the AWDA image type it is.
// Workflow inputs and histories carry these references, never the bytes.
type DocumentRef struct {
	Type       awda.ImageType `json:"type"`
	DocumentID string         `json:"documentId"`
}

// UploadedImage is a document that AWDA now holds under ImageID.
type UploadedImage struct {
	Type       awda.ImageType `json:"type"`
	DocumentID string         `json:"documentId"`
	ImageID    string         `json:"imageId"`
}

// UploadDocumentsInput asks for every listed document to be uploaded.
type UploadDocumentsInput struct {
	UserID    string        `json:"userId"`
	Method    UploadMethod  `json:"method,omitempty"`
	Documents []DocumentRef `json:"documents"`
}

// UploadDocumentsResult lists the uploaded images in input order.
type UploadDocumentsResult struct {
	Images []UploadedImage `json:"images"`
}

// tokenMargin is how long before its expiry a token is considered spent, so
// that an upload never starts with a token that expires mid-flight.
const tokenMargin = 30 * time.Second

// UploadDocuments uploads every document to AWDA: it reads the bytes by ID
// from the DocumentStore, gets an upload token (and a fresh one when it is
// about to expire or AWDA answers 1002), and uploads by stream or base64.
// Progress is heartbeated, so a retried attempt skips the images an earlier
// attempt already uploaded.
func (a *Activities) UploadDocuments(ctx context.Context, in UploadDocumentsInput) (*UploadDocumentsResult, error) {
	if in.UserID == "" || len(in.Documents) == 0 {
		return nil, invalidInput("upload needs a userId and at least one document")
	}
	method := in.Method
	if method == "" {
		method = UploadStream
	}
	if method != UploadStream && method != UploadBase64 {
		return nil, invalidInput("unknown upload method " + string(method))
	}
	if a.Documents == nil {
		return nil, invalidInput("no document store configured")
	}

	done := map[string]UploadedImage{} // by DocumentID, from earlier attempts
	if activity.HasHeartbeatDetails(ctx) {
		var prior []UploadedImage
		if err := activity.GetHeartbeatDetails(ctx, &prior); err == nil {
			for _, im := range prior {
				done[im.DocumentID] = im
			}
		}
	}

	u := uploader{a: a, userID: in.UserID}
	out := &UploadDocumentsResult{}
	logger := activity.GetLogger(ctx)
	for _, ref := range in.Documents {
		if im, ok := done[ref.DocumentID]; ok && im.Type == ref.Type && im.ImageID != "" {
			out.Images = append(out.Images, im)
			continue
		}
		doc, err := a.Documents.GetDocument(ctx, ref.DocumentID)
		if errors.Is(err, ErrDocumentNotFound) {
			return nil, temporal.NewNonRetryableApplicationError("document "+ref.DocumentID+" not found", ErrTypeDocumentNotFound, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, temporal.NewApplicationError("read document "+ref.DocumentID+": "+err.Error(), ErrTypeDocumentStore)
		}
		var imageID string
		if method == UploadBase64 {
			imageID, err = u.base64(ctx, ref.Type, doc)
		} else {
			imageID, err = u.stream(ctx, ref.Type, doc)
		}
		if err != nil {
			return nil, temporalError(err)
		}
		if imageID == "" {
			return nil, temporal.NewNonRetryableApplicationError("AWDA accepted the "+string(ref.Type)+" image without an imageId", ErrorType(awda.ClassUnknown), nil)
		}
		out.Images = append(out.Images, UploadedImage{Type: ref.Type, DocumentID: ref.DocumentID, ImageID: imageID})
		activity.RecordHeartbeat(ctx, out.Images)
		logger.Info("document uploaded", "DocumentID", ref.DocumentID, "ImageType", string(ref.Type), "Method", string(method))
	}
	return out, nil
}

// uploader holds one attempt's upload token. The token never leaves it: it
// is not logged, heartbeated or returned.
type uploader struct {
	a        *Activities
	userID   string
	token    string
	expireAt time.Time
}

func (u *uploader) freshToken(ctx context.Context) error {
	res, err := u.a.AWDA.ImageToken(ctx, &awda.ImageTokenRequest{UserID: u.userID})
	if err != nil {
		return err
	}
	if res.Token == "" {
		return &awda.Error{Class: awda.ClassUnknown, Endpoint: awda.PathImageToken, Message: "empty upload token"}
	}
	u.token = res.Token
	u.expireAt = time.UnixMilli(res.ExpireAt)
	if res.ExpireAt == 0 {
		u.expireAt = time.Time{} // no expiry given: trust it until AWDA says 1002
	}
	return nil
}

func (u *uploader) tokenUsable() bool {
	if u.token == "" {
		return false
	}
	return u.expireAt.IsZero() || u.a.now().Add(tokenMargin).Before(u.expireAt)
}

func (u *uploader) stream(ctx context.Context, t awda.ImageType, doc *Document) (string, error) {
	for refreshed := false; ; refreshed = true {
		if !u.tokenUsable() || refreshed {
			if err := u.freshToken(ctx); err != nil {
				return "", err
			}
		}
		res, err := u.a.AWDA.ImageUpload(ctx, &awda.ImageUploadRequest{Token: u.token, ImageType: t, FileName: doc.FileName, File: doc.Bytes})
		if awda.IsInvalidToken(err) && !refreshed {
			continue // expired or revoked at AWDA before our clock said so: once more with a new token
		}
		if err != nil {
			return "", err
		}
		return res.ImageID, nil
	}
}

func (u *uploader) base64(ctx context.Context, t awda.ImageType, doc *Document) (string, error) {
	res, err := u.a.AWDA.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{
		UserID:    u.userID,
		ImageType: t,
		Base64:    base64.StdEncoding.EncodeToString(doc.Bytes),
	})
	if err != nil {
		return "", err
	}
	return res.ImageID, nil
}
