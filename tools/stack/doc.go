// Package stack launches the whole of awdaflow on loopback as real
// processes, for make run (tools/cmd/run), the benchmarks (make bench), the
// chaos drill (make chaos) and any test that needs the system as it runs in
// production:
//
//   - the worker and the starter binaries, built once with `go build` into
//     a bin directory and run as subprocesses (so that they can be killed
//     with SIGKILL, restarted and measured: RSS from /proc);
//   - a Temporal dev server with a persistent SQLite file (a restart keeps
//     every workflow) and the workflow's search attributes, or an external
//     server given by TemporalAddress (e.g. the one a test process shares),
//     or (Options.Server, the production lane: server.go) Temporal's own
//     server on the stack's PostgreSQL, its schema applied with its sql
//     tool, with its Web UI server when Ports.TemporalUI is set;
//   - the worker and the starter as several replicas (Options.Workers,
//     Options.Starters; two of each on the production lane), the starters
//     behind a round-robin reverse proxy in this process (replicas.go);
//   - PostgreSQL: a throwaway cluster of its own (testenv.PostgresCluster),
//     or a fresh database on an external server given by DatabaseURL;
//   - the AWDA sandbox in this process, on its own HTTP listener, so that the
//     caller reads its Stats and sets its faults and delivery directly (the
//     admin API answers too, for code that wants HTTP); or, for make run
//     (Options.SandboxBinary), bin/awda-sandbox as one more process, its
//     state kept in a file (Options.SandboxStateFile).
//
// Secrets (payload key ring, API token, AWDA app id and HMAC secret) are
// generated for each stack, or given (Options.Secrets: make run's dev.env).
// Start brings everything up and waits until the starter and the worker are
// ready; Close stops everything in order and removes what Start created,
// leaving no process and no file behind (unless Options.Keep or
// Options.LogDir say otherwise).
//
// Every child gets a parent-death signal, so a launcher that dies without
// calling Close does not leave processes behind either.
//
// The supervisor's parts (supervise.go) are for launchers: with
// Options.AutoRestart a worker, starter or sandbox process that dies on its
// own is restarted with backoff and reported through Logf (make run turns it
// on; chaos, e2e and bench leave it off, since they kill processes on
// purpose and check what follows); NotifyShutdown turns SIGINT, SIGTERM and
// SIGHUP into a context and keeps SIGPIPE from killing a launcher whose
// output pipe is gone; Display prints progress and drops what it cannot
// write; StopAll stops processes and their process groups.
//
// The package is for tools and tests on a developer's machine or in CI. It
// must never be used in production code: the database runs without fsync and
// the sandbox is not AWDA.
package stack
