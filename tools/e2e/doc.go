// Package e2e holds the end-to-end tests of awdaflow (build tag
// integration): the whole system as a lending backend sees it, launched by
// tools/stack for each test: a throwaway PostgreSQL database, the AWDA
// sandbox over HTTP on autopilot pushing its notifications to the starter,
// the starter binary (`starter serve`) and the worker binary, both built once
// and run as subprocesses so that a test can SIGKILL the worker and start it
// again, around the Temporal dev server and the PostgreSQL server the tests
// share (internal/testenv). Applicants are driven through the public HTTP
// API only, by tools/demo.
//
//	cd tools && go test -tags integration ./e2e/ -v -count=1
package e2e
