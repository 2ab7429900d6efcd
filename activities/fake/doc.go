// Package fake holds in-memory test doubles for the activities' ports: an
// AWDA (a small, scriptable state machine implementing
// activities.AWDAClient, with per-endpoint error injection), a DocumentStore
// and a ProjectionWriter that records what it was given.
//
// These are for unit tests of the activities and the loan workflow. They
// speak Go, not HTTP, and check only what those tests rely on; tests that
// need the wire contract use the AWDA sandbox over HTTP. Never use them in a
// binary.
package fake
