package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
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
	var prior []UploadedImage
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prior); err == nil {
			for _, im := range prior {
				done[im.DocumentID] = im
			}
		}
	}
	hb := startHeartbeats(ctx, prior)
	defer hb.stop()

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
			return nil, temporal.NewNonRetryableApplicationError("AWDA accepted the "+string(ref.Type)+" image without an imageId", ErrTypeUnknown, nil)
		}
		im := UploadedImage{Type: ref.Type, DocumentID: ref.DocumentID, ImageID: imageID}
		out.Images = append(out.Images, im)
		hb.uploaded(im)
		logger.Info("document uploaded", "DocumentID", ref.DocumentID, "ImageType", string(ref.Type), "Method", string(method))
	}
	return out, nil
}

// heartbeats reports an upload's progress — the images uploaded so far,
// by this attempt and earlier ones — as its heartbeat details: after each
// upload, and every third of the heartbeat timeout in between, so that the
// attempt stays alive through an AWDA call that takes as long as the
// timeout itself (the HTTP timeout is of the same order) and a dead worker
// is noticed after the timeout. The SDK sends the first heartbeat of its
// throttle window (80 % of the timeout) at once and the last one at the
// window's end or when the attempt fails, so progress reaches the server
// before the next attempt reads it; beats around every call would only
// hold a progress beat back in the window.
type heartbeats struct {
	ctx    context.Context
	mu     sync.Mutex
	images []UploadedImage
	done   chan struct{}
	exited chan struct{}
}

func startHeartbeats(ctx context.Context, prior []UploadedImage) *heartbeats {
	h := &heartbeats{ctx: ctx, images: append([]UploadedImage(nil), prior...), done: make(chan struct{}), exited: make(chan struct{})}
	every := activity.GetInfo(ctx).HeartbeatTimeout / 3
	if every <= 0 {
		close(h.exited) // no heartbeat timeout: progress beats suffice
		return h
	}
	go func() {
		defer close(h.exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.beat()
			}
		}
	}()
	return h
}

// beat records the progress so far. Never an empty list over an earlier
// attempt's: the images start as the prior ones.
func (h *heartbeats) beat() {
	h.mu.Lock()
	images := append([]UploadedImage(nil), h.images...)
	h.mu.Unlock()
	activity.RecordHeartbeat(h.ctx, images)
}

// uploaded adds an image to the progress and records it at once.
func (h *heartbeats) uploaded(im UploadedImage) {
	h.mu.Lock()
	h.images = slices.DeleteFunc(h.images, func(x UploadedImage) bool { return x.DocumentID == im.DocumentID })
	h.images = append(h.images, im)
	h.mu.Unlock()
	h.beat()
}

func (h *heartbeats) stop() {
	close(h.done)
	<-h.exited
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
