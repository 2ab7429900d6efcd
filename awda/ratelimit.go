package awda

import (
	"context"
	"errors"
)

// RateClass groups AWDA's interfaces under one rate limit each: the
// partner's capacity differs between cheap reads, calls that change
// something at AWDA, and image uploads.
type RateClass string

// The rate classes. Every interface path has one (RateClassOf).
const (
	// RateRead: idempotent reads, most of them run by the loan workflow as
	// local activities (loan/info, auth/list, auth/page, bank/list,
	// bankcard/query, loan/agreement).
	RateRead RateClass = "read"
	// RateWrite: calls that change something at AWDA or mint something
	// (register, eligible-check, bankcard/verify, loan/submit, loan/sign,
	// repayment/va, redirect-url).
	RateWrite RateClass = "write"
	// RateUpload: image tokens and uploads, the heavy requests.
	RateUpload RateClass = "upload"
)

// RateClasses lists every class.
var RateClasses = []RateClass{RateRead, RateWrite, RateUpload}

var rateClassOfPath = map[string]RateClass{
	PathLoanInfo:          RateRead,
	PathAuthList:          RateRead,
	PathAuthPage:          RateRead,
	PathBankList:          RateRead,
	PathBankCardQuery:     RateRead,
	PathLoanAgreement:     RateRead,
	PathUserRegister:      RateWrite,
	PathEligibleCheck:     RateWrite,
	PathBankCardVerify:    RateWrite,
	PathLoanSubmit:        RateWrite,
	PathLoanSign:          RateWrite,
	PathRepaymentVA:       RateWrite,
	PathRedirectURL:       RateWrite,
	PathImageToken:        RateUpload,
	PathImageUpload:       RateUpload,
	PathImageUploadBase64: RateUpload,
}

// RateClassOf is the rate class of an interface path; RateWrite, the
// strictest guess, for a path it does not know.
func RateClassOf(path string) RateClass {
	if c, ok := rateClassOfPath[path]; ok {
		return c
	}
	return RateWrite
}

// Limiter paces the client's attempts. The client calls Wait before every
// attempt and Busy after every attempt AWDA answered busy (codes 100, 1000,
// 1011, HTTP 429). A Limiter shared by every process that calls AWDA (see
// internal/ratelimit) holds the whole fleet to one rate. It must be safe for
// concurrent use.
type Limiter interface {
	// Wait returns when the caller may make one attempt of the class, or
	// an error, and then the attempt must not be made: the wait would pass
	// the limiter's maximum or ctx's deadline (wrap ErrRateLimited), ctx
	// ended, or the limiter could not decide. Its errors carry no personal
	// data.
	Wait(ctx context.Context, class RateClass) error
	// Busy reports a busy answer to an attempt of the class, so that the
	// limiter slows every caller down. It must not take long; ctx may have
	// ended.
	Busy(ctx context.Context, class RateClass)
}

// ErrRateLimited is the cause of the error a call returns when its limiter
// refused the attempt (no request was sent). The call's error is of class
// ClassBusy, which callers retry later, as for AWDA's own busy answers.
var ErrRateLimited = errors.New("rate limit: no slot within the maximum wait")

// limiterError is the call's error when the limiter did not let the attempt
// go: class busy (retried) for a refusal or a limiter failure, class timeout
// (as the transport's) when ctx ended.
func limiterError(path string, err error) error {
	class := ClassBusy
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		class = ClassTimeout
	}
	return &Error{Class: class, Endpoint: path, Message: "not sent: rate limiter", Err: err}
}
