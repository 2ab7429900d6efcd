// Package migrations holds the PostgreSQL schema of awdaflow as goose v3 SQL
// migrations, embedded in the binaries. store.Migrate applies them under an
// advisory lock (`starter migrate`, and every start of the starter).
//
// Rules for new files: never edit a migration that has shipped, add a new one;
// every table holds PII only sealed (encrypted with the key ring, in bytea
// columns named *_sealed), never in plain text, not even masked in indexes.
package migrations

import "embed"

// FS holds the migrations, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
