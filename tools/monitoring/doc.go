// Package monitoring reads awdaflow's alert rules and Grafana dashboards for
// the tests beside it, which check them against the product:
//
//   - deploy/k8s/base/prometheusrule.yaml (a monitoring.coreos.com/v1
//     PrometheusRule) parses with Prometheus's own rule package (rulefmt)
//     and PromQL parser; deploy/prometheus/awdaflow-rules.yml, the same
//     groups as a plain rules file for Prometheus without the operator, is
//     generated from it (UPDATE_RULES=1 rewrites it; the test fails while
//     it differs);
//   - every alert has a summary, a description and a runbook_url whose
//     anchor, #playbook-<alert-name-in-kebab-case>, exists in
//     docs/operations.md;
//   - every panel target of deploy/grafana/dashboards/*.json parses;
//   - (build tag integration) every metric a rule or a panel names, and
//     every label it selects or groups by, is on /metrics of the real
//     worker and starter binaries after a few loans (tools/stack on the
//     Temporal dev server), except the short list of failure-only SDK
//     metrics in Exceptions, which the test holds to its minimum.
package monitoring
