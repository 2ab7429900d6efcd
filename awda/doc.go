// Package awda is the client for AWDA's partner lending API (Maucash,
// Indonesia): the wire contract (contract.go, the one place every path and
// field name lives), request signing (HMAC-SHA256 and RSA-SHA256), the
// verifier for AWDA's inbound notifications, and a PII-free logging hook.
//
// The client makes exactly one signed HTTP attempt per call and never
// retries: retrying belongs to the caller (Temporal activity retry policies),
// which branches on ErrorClass rather than on strings. Nothing in this
// package may log or put into an error text a borrower's NIK, name, phone
// number, account number, token or image bytes.
package awda
