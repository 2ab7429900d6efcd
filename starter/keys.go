package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
)

// keysCommand is `starter keys reseal`: after a key-ring rotation (a new
// primary appended to AWDAFLOW_KEYS), it re-seals every applicant data key
// under the new primary, in batches, each committed on its own; run it again
// after an interruption and it carries on. Once it reports no key under the
// old ring key, that key can be dropped from AWDAFLOW_KEYS as far as the
// data keys go (docs/operations.md, "Data keys and ring rotation").
func keysCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "reseal" {
		fmt.Fprintf(stderr, "starter keys: want \"reseal\"\n\n%s", usage)
		return 2
	}
	fs := flag.NewFlagSet("starter keys reseal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	batch := fs.Int("batch", 500, "keys re-sealed per transaction")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || *batch <= 0 {
		return 2
	}
	db := config.Database{URL: config.Secret(getenv(config.EnvDatabaseURL))}
	if db.URL.Empty() {
		fmt.Fprintf(stderr, "starter keys reseal: %s is required\n", config.EnvDatabaseURL)
		return 2
	}
	ring, err := codec.ParseKeyRing(getenv(config.EnvKeys))
	if err != nil {
		fmt.Fprintf(stderr, "starter keys reseal: %s: %v\n", config.EnvKeys, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, db.URL.Reveal())
	if err != nil {
		fmt.Fprintf(stderr, "starter keys reseal: %s: cannot open a pool with this URL\n", config.EnvDatabaseURL)
		return 2
	}
	defer pool.Close()
	return reseal(ctx, store.New(pool, ring), ring, *batch, stdout, stderr)
}

func reseal(ctx context.Context, st *store.Store, ring *codec.KeyRing, batch int, stdout, stderr io.Writer) int {
	keys := codec.NewDataKeys(ring, st, codec.DataKeysOptions{})
	n, err := st.ResealDataKeys(ctx, ring.PrimaryKeyID(), batch, keys.Reseal)
	fmt.Fprintf(stdout, "re-sealed %d data keys under %s\n", n, ring.PrimaryKeyID())
	if err != nil {
		fmt.Fprintf(stderr, "starter keys reseal: %v (run it again to carry on)\n", err)
		return 1
	}
	by, err := st.DataKeysByRingKey(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "starter keys reseal: %v\n", err)
		return 1
	}
	ids := slices.Sorted(maps.Keys(by))
	for _, id := range ids {
		fmt.Fprintf(stdout, "ring key %s seals %d data keys\n", id, by[id])
	}
	return 0
}
