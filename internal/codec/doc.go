// Package codec keeps borrowers' personal data out of Temporal and out of the
// database in plain text. One KeyRing (AES-256-GCM keys with IDs, parsed
// from a "keyID=base64key,..." spec whose last entry encrypts) serves three
// uses:
//
//   - Temporal payloads: NewDataConverter and NewFailureConverter (or
//     ClientOptions / ConfigureClient) must be set on every Temporal client —
//     worker, starter, tests, tools — so workflow inputs, results, signals,
//     updates, queries, activity arguments, memos and error messages reach
//     the server encrypted, with the key ID in the payload metadata.
//   - Data at rest: Seal and Open encrypt documents and webhook inbox
//     payloads in PostgreSQL, bound to their row by associated data.
//   - Reading it back: NewHandler is the remote codec server for the Temporal
//     UI and CLI (POST /codec/encode, POST /codec/decode), behind bearer auth
//     and CORS. See NewHandler for the exact UI and CLI flags.
//
// Per-applicant data keys (DataKeys, with a KeySource such as the store):
// each applicant has an AES-256 key of their own, sealed by the ring. With
// NewPayloadCodecWithKeys (ClientOptionsWithKeys) a loan's payloads and
// failures are encrypted under its applicant's key, chosen from the SDK's
// serialization context; DataKeys.SealFor seals rows under it. Destroying
// the key (an erasure) makes all of it unreadable: decoding fails with
// ErrErased, and NewHandler answers a placeholder instead. Decoding goes by
// the key ID in the metadata or blob ("dk_…" for data keys), never by
// context.
//
// Key rotation without downtime: append a new entry (GenerateKeySpec) to the
// spec and deploy it everywhere; new data is encrypted under it, old data
// still decrypts with the older entries. Drop an old entry only when no
// history or row encrypted under it is still needed.
//
// This package must never put key material or plaintext in an error, a log
// line or a String method; errors name key IDs only. It does no I/O besides
// serving HTTP in NewHandler.
package codec
