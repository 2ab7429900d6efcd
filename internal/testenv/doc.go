// Package testenv starts the real services that integration tests run
// against — a throwaway PostgreSQL cluster, a Temporal dev server — once per
// test process, and hands each test an isolated slice of them (a database of
// its own, a namespace or task queue of its own).
//
// Packages that use it call RunMain from TestMain so the services are stopped
// when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }
//
// It also holds what the activities' and the loan workflow's tests and the
// simulator run in process: AWDA (the AWDA sandbox behind the real client,
// with a script of faults in front of it; the contract is simulated once,
// by the sandbox) and the activities' other ports in memory (Documents,
// Projections).
//
// It lives in the product module, not in tools/, because the product's own
// tests need it and the product's go.mod never requires the tools module.
// Production code never imports it: only _test.go files of the product, and
// the tools (the launcher starts the same PostgreSQL and dev server), do;
// deploy's TestBoundary* tests (make lint) hold that. It never touches data it
// did not create: external servers named by environment variables (for
// example DATABASE_URL) are only ever given new, uniquely named databases,
// which are dropped afterwards.
package testenv
