package workflows

import (
	"errors"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/activities"
)

// Error types of the Temporal application errors this package makes, all
// lower snake_case like the activities' (activities.ErrType*), and declared
// here, never as a bare literal elsewhere. Callers, the HTTP API among them,
// match them with IsErrorType, which also accepts the spellings older
// workers used (LegacyErrorTypes).
const (
	// ErrTypeInvalidInput: LoanApplication's input cannot start a loan (the
	// only way the workflow fails), or an update's input is wrong for the
	// step the loan is at. The same type as activities.ErrTypeInvalidInput:
	// input that cannot be used, whoever refuses it.
	ErrTypeInvalidInput = "invalid_input"
	// ErrTypeWrongStage: an update that does not belong to the step the
	// loan is at (a conflict with its state).
	ErrTypeWrongStage = "wrong_stage"
	// ErrTypeUnexpected: an AWDA answer the contract does not allow (a
	// success without the data it promises); the step parks for operations.
	ErrTypeUnexpected = "unexpected"
)

// LegacyErrorTypes maps an error type to the spellings it had before issue
// 14 made every type lower snake_case. A worker deployed before the rename
// still refuses updates with the old spelling while the new API runs, and
// workflows that failed before it carry it in their histories; IsErrorType
// accepts both, so the HTTP answers do not change.
var LegacyErrorTypes = map[string][]string{
	ErrTypeInvalidInput: {"InvalidInput"},
	ErrTypeWrongStage:   {"WrongStage"},
}

// IsErrorType reports whether err carries a Temporal application error whose
// type is one of types or an older spelling of one, of this package
// (LegacyErrorTypes) or of the activities (activities.LegacyErrorTypes).
// Workflow code branches on an activity's failure with it, never with ==:
// a loan in flight, replayed after a rename, finds the old spelling in its
// history and must take the same branch.
func IsErrorType(err error, types ...string) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	typ := appErr.Type()
	for _, t := range types {
		if typ == t || slices.Contains(LegacyErrorTypes[t], typ) || slices.Contains(activities.LegacyErrorTypes[t], typ) {
			return true
		}
	}
	return false
}
