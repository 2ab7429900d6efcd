// Package k8s holds the tests of deploy/k8s, the Kubernetes manifests: they
// render every overlay with kustomize's Go packages (krusty), decode every
// object strictly into its k8s.io/api (or Prometheus Operator) type, and
// check the result against the code — the variables the binaries read
// (internal/config's and the starter's struct tags), the routes they serve
// (the starter's API server built in-process, the worker's registrations),
// their listen ports, stop and start timeouts — and against the rules of
// the house: non-root, read-only root filesystem, requests and limits,
// secrets only by reference and documented in each overlay's README.
//
// It lives in the tools module so that kustomize and the Kubernetes API
// types stay out of the product's go.mod. It has no non-test code but this.
package k8s
