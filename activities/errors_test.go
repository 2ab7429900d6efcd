package activities_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

var snake = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// Every AWDA class has its own lower snake_case type, the name
// docs/awda-contract.md gives the class.
func TestErrorTypePerClass(t *testing.T) {
	seen := map[string]awda.ErrorClass{}
	for c := awda.ClassUnknown; c <= awda.ClassAuthorization; c++ {
		typ := activities.ErrorType(c)
		require.Regexp(t, snake, typ)
		require.Equal(t, c.String(), typ, "the contract names class %d %s", int(c), c)
		prev, dup := seen[typ]
		require.False(t, dup, "classes %s and %s share the type %q", prev, c, typ)
		seen[typ] = c
	}
	require.Equal(t, activities.ErrTypeUnknown, activities.ErrorType(awda.ErrorClass(99)))
}

// The non-retryable list is written into every ActivityTaskScheduled event
// of every loan (workflows/testdata holds it so): its members and order
// change only by appending.
func TestNonRetryableErrorTypesAsRecorded(t *testing.T) {
	require.Equal(t, []string{"unknown", "duplicate", "user_exists", "validation", "configuration",
		"not_found", "authorization", "document_not_found", "invalid_input"}, activities.NonRetryableErrorTypes)
	for _, typ := range activities.NonRetryableErrorTypes {
		require.Regexp(t, snake, typ)
	}
}
