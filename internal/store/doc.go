// Package store is awdaflow's PostgreSQL layer (pgx): the applications read
// model, the encrypted document store, the durable webhook inbox and the AWDA
// call audit. It implements activities.DocumentStore and
// activities.ProjectionWriter. The schema lives in package migrations and is
// applied by Migrate.
//
// What it must never do: write a borrower's personal data in clear. Document
// bytes, file names and webhook payloads go through the Sealer (the codec key
// ring in production) with an AAD that binds each ciphertext to its row, and
// error strings name rows by ID only.
package store
