package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
)

// Error types of the application errors activities return besides the AWDA
// error classes (whose type is ErrorType(class), e.g. "busy", "validation").
const (
	// ErrTypeDocumentNotFound: a document reference names no stored document.
	ErrTypeDocumentNotFound = "document_not_found"
	// ErrTypeDocumentStore: the document store failed; retried.
	ErrTypeDocumentStore = "document_store"
	// ErrTypeProjection: the read-model write failed; retried.
	ErrTypeProjection = "projection"
	// ErrTypeInvalidInput: the activity was called with input it cannot use.
	ErrTypeInvalidInput = "invalid_input"
)

// ErrorType is the Temporal application error type for an AWDA error class.
func ErrorType(c awda.ErrorClass) string { return c.String() }

// NonRetryableErrorTypes lists every error type an activity reports as
// non-retryable. Activities already mark these errors non-retryable; the list
// is for retry policies, as a second line of defence.
var NonRetryableErrorTypes = []string{
	ErrorType(awda.ClassUnknown),
	ErrorType(awda.ClassDuplicate),
	ErrorType(awda.ClassUserExists),
	ErrorType(awda.ClassValidation),
	ErrorType(awda.ClassConfiguration),
	ErrorType(awda.ClassNotFound),
	ErrorType(awda.ClassAuthorization),
	ErrTypeDocumentNotFound,
	ErrTypeInvalidInput,
}

// Retryable reports whether an AWDA error class is retried by Temporal:
// busy, timeout/network and stale timestamp (each attempt re-signs with a
// fresh timestamp and nonce), and an invalid upload token (each attempt of
// the upload fetches a fresh token). Everything else is for the workflow to
// handle: validation, configuration, not found, authorization, an unknown
// answer, and duplicates the activity could not reconcile.
func Retryable(c awda.ErrorClass) bool {
	return c.Retryable() || c == awda.ClassInvalidToken
}

// temporalError converts a failure into the error an activity returns. The
// message is awda.Error's text, which carries no personal data by contract;
// other errors are wrapped with a fixed prefix and their own text, which
// callers keep free of personal data too.
func temporalError(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := awda.AsError(err); ok {
		if Retryable(e.Class) {
			return temporal.NewApplicationError(e.Error(), ErrorType(e.Class))
		}
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrorType(e.Class), nil)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return temporal.NewApplicationError(err.Error(), "internal")
}

func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
}
