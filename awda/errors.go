package awda

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrorClass groups AWDA's codes and transport failures by what a caller
// should do about them, so that nobody matches on strings.
type ErrorClass int

const (
	ClassUnknown        ErrorClass = iota // 999, or an answer we cannot read
	ClassBusy                             // 100, 1000, 1011; HTTP 429
	ClassTimeout                          // 300, 404, transport errors, HTTP 5xx
	ClassStaleTimestamp                   // 1003
	ClassInvalidToken                     // 1002
	ClassDuplicate                        // 1001
	ClassUserExists                       // 1008
	ClassValidation                       // 400, 1006, 1007, and local validation before sending
	ClassConfiguration                    // 1004, 1005; other HTTP 4xx (wrong URL or method)
	ClassNotFound                         // 600, 1009, 1010
	ClassAuthorization                    // 1012
)

var classNames = [...]string{
	ClassUnknown:        "unknown",
	ClassBusy:           "busy",
	ClassTimeout:        "timeout",
	ClassStaleTimestamp: "stale_timestamp",
	ClassInvalidToken:   "invalid_token",
	ClassDuplicate:      "duplicate",
	ClassUserExists:     "user_exists",
	ClassValidation:     "validation",
	ClassConfiguration:  "configuration",
	ClassNotFound:       "not_found",
	ClassAuthorization:  "authorization",
}

func (c ErrorClass) String() string {
	if int(c) >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Retryable reports whether the same call may succeed if simply repeated
// (with a fresh timestamp and nonce).
func (c ErrorClass) Retryable() bool {
	return c == ClassBusy || c == ClassTimeout || c == ClassStaleTimestamp
}

// ClassOfCode maps an AWDA response code to its class.
func ClassOfCode(code Code) ErrorClass {
	switch code {
	case CodeBusy, CodeSystemBusy, CodeSystemBusy2:
		return ClassBusy
	case CodeRequestTimeout, CodeNetworkError:
		return ClassTimeout
	case CodeTimestampExpired:
		return ClassStaleTimestamp
	case CodeInvalidToken:
		return ClassInvalidToken
	case CodeRepeatRequest:
		return ClassDuplicate
	case CodeUserExists:
		return ClassUserExists
	case CodeParamError, CodeParamEmpty, CodeParamInvalid:
		return ClassValidation
	case CodeSignatureFailed, CodeMerchantInvalid:
		return ClassConfiguration
	case CodeDataNotExist, CodeUserNotExist, CodeOrderNotExist:
		return ClassNotFound
	case CodeAuthInfoFailed:
		return ClassAuthorization
	}
	return ClassUnknown
}

// Error is every failure of a call to AWDA: a non-zero code, a transport
// failure, an unreadable answer, or input refused before sending. Its text
// never carries borrowers' personal data.
type Error struct {
	Class      ErrorClass
	Code       Code   // AWDA's code; 0 when the call never got an AWDA answer
	Message    string // AWDA's message (digit runs and e-mail addresses redacted; may still carry a name, so never logged and never in Error()), or, when Code is 0, the client's own description
	Endpoint   string // interface path
	HTTPStatus int    // 0 when no HTTP answer
	Nonce      string // the request's nonce, to find it in AWDA's logs
	Field      string // for local validation: the offending field path
	Err        error  // the transport cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("awda ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	b.WriteString(e.Class.String())
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", int(e.Code))
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != 200 {
		fmt.Fprintf(&b, " (http %d)", e.HTTPStatus)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	// AWDA's own message (Code != 0) is free text that may name the
	// borrower; it stays in the Message field and out of the error string.
	if e.Message != "" && e.Code == 0 {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if _, isField := e.Err.(*FieldError); e.Err != nil && !isField {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Nonce != "" {
		b.WriteString(" [nonce ")
		b.WriteString(e.Nonce)
		b.WriteString("]")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the call may succeed if repeated.
func (e *Error) Retryable() bool { return e.Class.Retryable() }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ClassOf returns err's class; ClassUnknown for a non-nil error that is not
// an *Error; -1 for nil.
func ClassOf(err error) ErrorClass {
	if err == nil {
		return -1
	}
	if e, ok := AsError(err); ok {
		return e.Class
	}
	return ClassUnknown
}

func IsRetryable(err error) bool      { return ClassOf(err).Retryable() }
func IsBusy(err error) bool           { return ClassOf(err) == ClassBusy }
func IsTimeout(err error) bool        { return ClassOf(err) == ClassTimeout }
func IsStaleTimestamp(err error) bool { return ClassOf(err) == ClassStaleTimestamp }
func IsInvalidToken(err error) bool   { return ClassOf(err) == ClassInvalidToken }
func IsDuplicate(err error) bool      { return ClassOf(err) == ClassDuplicate }
func IsUserExists(err error) bool     { return ClassOf(err) == ClassUserExists }
func IsValidation(err error) bool     { return ClassOf(err) == ClassValidation }
func IsConfiguration(err error) bool  { return ClassOf(err) == ClassConfiguration }
func IsNotFound(err error) bool       { return ClassOf(err) == ClassNotFound }
func IsAuthorization(err error) bool  { return ClassOf(err) == ClassAuthorization }

var (
	redactDigits = regexp.MustCompile(`\+?\d[\d\- ]{4,}\d`)
	redactEmail  = regexp.MustCompile(`[^\s@]+@[^\s@]+`)
)

// RedactMessage removes what could be personal data from a partner's free
// text: runs of six or more digits (NIK, phone and account numbers) and
// e-mail addresses. Names cannot be recognised reliably, so messages are also
// cut to 200 bytes.
func RedactMessage(s string) string {
	s = redactDigits.ReplaceAllString(s, "[redacted]")
	s = redactEmail.ReplaceAllString(s, "[redacted]")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
