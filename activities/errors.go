package activities

import (
	"context"
	"errors"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
)

// Error types. Every Temporal application error an activity returns has one
// of these types, all lower snake_case and declared here, never as a bare
// literal elsewhere. The types are recorded in workflow histories
// (ActivityTaskFailed events) and in the retry policies' non-retryable
// lists, so a type is never renamed without keeping its old spelling in
// LegacyErrorTypes: a loan in flight replays the old spelling and must take
// the same branch.
const (
	// The AWDA error classes (awda.ErrorClass), one type each; see
	// ErrorType.
	ErrTypeUnknown        = "unknown"
	ErrTypeBusy           = "busy"
	ErrTypeTimeout        = "timeout"
	ErrTypeStaleTimestamp = "stale_timestamp"
	ErrTypeInvalidToken   = "invalid_token"
	ErrTypeDuplicate      = "duplicate"
	ErrTypeUserExists     = "user_exists"
	ErrTypeValidation     = "validation"
	ErrTypeConfiguration  = "configuration"
	ErrTypeNotFound       = "not_found"
	ErrTypeAuthorization  = "authorization"

	// ErrTypeDocumentNotFound: a document reference names no stored document.
	ErrTypeDocumentNotFound = "document_not_found"
	// ErrTypeDocumentStore: the document store failed; retried.
	ErrTypeDocumentStore = "document_store"
	// ErrTypeProjection: the read-model write failed; retried.
	ErrTypeProjection = "projection"
	// ErrTypeInvalidInput: the activity was called with input it cannot use.
	ErrTypeInvalidInput = "invalid_input"
	// ErrTypeInternal: any other failure (not an AWDA answer); retried.
	ErrTypeInternal = "internal"
)

// classTypes maps each AWDA error class to its error type. It is a table of
// its own, not ErrorClass.String(), so that a new wording of the client's
// class names cannot change what histories record.
var classTypes = [...]string{
	awda.ClassUnknown:        ErrTypeUnknown,
	awda.ClassBusy:           ErrTypeBusy,
	awda.ClassTimeout:        ErrTypeTimeout,
	awda.ClassStaleTimestamp: ErrTypeStaleTimestamp,
	awda.ClassInvalidToken:   ErrTypeInvalidToken,
	awda.ClassDuplicate:      ErrTypeDuplicate,
	awda.ClassUserExists:     ErrTypeUserExists,
	awda.ClassValidation:     ErrTypeValidation,
	awda.ClassConfiguration:  ErrTypeConfiguration,
	awda.ClassNotFound:       ErrTypeNotFound,
	awda.ClassAuthorization:  ErrTypeAuthorization,
}

// ErrorType is the Temporal application error type for an AWDA error class;
// ErrTypeUnknown for a class it does not know.
func ErrorType(c awda.ErrorClass) string {
	if int(c) >= 0 && int(c) < len(classTypes) && classTypes[c] != "" {
		return classTypes[c]
	}
	return ErrTypeUnknown
}

// LegacyErrorTypes maps an error type to the older spellings of it that
// recorded histories may still hold. It is empty: no activity error type has
// been renamed (issue 14 found them all lower snake_case already). Renaming
// one means adding its old spelling here; workflows.IsErrorType, which the
// workflow branches with, and NonRetryableErrorTypes then honour it.
var LegacyErrorTypes = map[string][]string{}

// NonRetryableErrorTypes lists every error type an activity reports as
// non-retryable. Activities already mark these errors non-retryable; the list
// is for retry policies, as a second line of defence. Its order is part of
// every ActivityTaskScheduled event; append, never reorder.
var NonRetryableErrorTypes = withLegacy(
	ErrTypeUnknown,
	ErrTypeDuplicate,
	ErrTypeUserExists,
	ErrTypeValidation,
	ErrTypeConfiguration,
	ErrTypeNotFound,
	ErrTypeAuthorization,
	ErrTypeDocumentNotFound,
	ErrTypeInvalidInput,
)

// withLegacy is types followed by their legacy spellings, so that an old
// worker's failure, still reported under an old name, is not retried.
func withLegacy(types ...string) []string {
	out := slices.Clone(types)
	for _, t := range types {
		out = append(out, LegacyErrorTypes[t]...)
	}
	return out
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
	return temporal.NewApplicationError(err.Error(), ErrTypeInternal)
}

func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
}
