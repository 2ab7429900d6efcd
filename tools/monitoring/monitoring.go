package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The files, relative to the repository root.
const (
	PrometheusRuleFile = "deploy/k8s/base/prometheusrule.yaml"
	PlainRulesFile     = "deploy/prometheus/awdaflow-rules.yml"
	DashboardsDir      = "deploy/grafana/dashboards"
	OperationsDoc      = "docs/operations.md"
)

// RunbookBase starts every alert's runbook_url; the anchor follows.
const RunbookBase = "https://github.com/awdaflow/awdaflow/blob/main/" + OperationsDoc + "#"

// PrometheusRule is a monitoring.coreos.com/v1 PrometheusRule, as far as
// the operator reads it.
type PrometheusRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace,omitempty"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	} `yaml:"metadata"`
	Spec struct {
		Groups []rulefmt.RuleGroup `yaml:"groups"`
	} `yaml:"spec"`
}

// ReadPrometheusRule decodes path strictly (an unknown field is an error).
func ReadPrometheusRule(path string) (*PrometheusRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var pr PrometheusRule
	if err := dec.Decode(&pr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s: %s %s, want monitoring.coreos.com/v1 PrometheusRule", path, pr.APIVersion, pr.Kind)
	}
	return &pr, nil
}

// PlainRules renders the PrometheusRule's groups as a plain Prometheus rules
// file (what rule_files loads).
func PlainRules(pr *PrometheusRule) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Generated from " + PrometheusRuleFile + " by tools/monitoring (UPDATE_RULES=1);\n" +
		"# do not edit. The same alerts and recording rules for Prometheus without\n" +
		"# the operator: list this file under rule_files.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(rulefmt.RuleGroups{Groups: pr.Spec.Groups}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseRules parses and validates a plain rules file with Prometheus's own
// rule package: every expression, template and name.
func ParseRules(content []byte) (*rulefmt.RuleGroups, []error) {
	return rulefmt.Parse(content, false, model.UTF8Validation, Parser, nil)
}

// Parser is the PromQL parser with Prometheus's default options.
var Parser = parser.NewParser(parser.Options{})

// Query is one PromQL expression, with where it was found.
type Query struct {
	Where string
	Expr  string
}

// RuleQueries lists the expressions of every rule, and the names the
// recording rules define.
func RuleQueries(groups []rulefmt.RuleGroup) (qs []Query, recorded map[string]bool) {
	recorded = map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			name := r.Alert
			if r.Record != "" {
				name = r.Record
				recorded[r.Record] = true
			}
			qs = append(qs, Query{Where: "rule " + g.Name + "/" + name, Expr: r.Expr})
		}
	}
	return qs, recorded
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (a row holds panels of its own when
// collapsed).
type Panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]any           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// ReadDashboards reads every *.json under dir, by file name.
func ReadDashboards(dir string) (map[string]*Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboard in %s", dir)
	}
	out := map[string]*Dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = &d
	}
	return out, nil
}

// AllPanels flattens the rows.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var (
	grafanaInterval = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)
	grafanaVariable = regexp.MustCompile(`\$\{?\w+\}?`)
)

// PanelQuery turns a Grafana target into PromQL: the interval macros
// become 5m, a variable (used in label matchers only) becomes ".*".
func PanelQuery(expr string) string {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	return grafanaVariable.ReplaceAllString(expr, ".*")
}

// DashboardQueries lists every target of every panel.
func DashboardQueries(ds map[string]*Dashboard) []Query {
	var qs []Query
	names := make([]string, 0, len(ds))
	for n := range ds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, p := range ds[n].AllPanels() {
			for _, t := range p.Targets {
				qs = append(qs, Query{Where: fmt.Sprintf("dashboard %s panel %q %s", n, p.Title, t.RefID), Expr: PanelQuery(t.Expr)})
			}
		}
	}
	return qs
}

// Uses are the metrics an expression names, each with the labels it
// selects on or groups by.
type Uses map[string]map[string]bool

func (u Uses) add(metric, label string) {
	if u[metric] == nil {
		u[metric] = map[string]bool{}
	}
	if label != "" {
		u[metric][label] = true
	}
}

// Names are the metric names, sorted.
func (u Uses) Names() []string {
	out := make([]string, 0, len(u))
	for n := range u {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// MetricUses parses expr and lists the metrics its selectors name, with
// their label matchers and the labels of every by() that aggregates them.
// A selector without a metric name is an error: the check could not say
// what it reads.
func MetricUses(expr string) (Uses, error) {
	e, err := Parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	u := Uses{}
	var bad error
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				name = m.Value
			}
		}
		if name == "" {
			bad = errors.Join(bad, fmt.Errorf("selector %s names no metric", vs))
			return nil
		}
		u.add(name, "")
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				u.add(name, m.Name)
			}
		}
		for _, p := range path {
			if agg, ok := p.(*parser.AggregateExpr); ok && !agg.Without {
				for _, l := range agg.Grouping {
					u.add(name, l)
				}
			}
		}
		return nil
	})
	return u, bad
}

// TargetLabels are the labels Prometheus gives every series it scrapes
// (its target's), which /metrics itself does not show.
var TargetLabels = map[string]bool{"instance": true, "job": true}

// Scrape is what /metrics showed: every sample name with the labels its
// series carry and their values (a histogram shows as its _bucket, _sum and
// _count).
type Scrape map[string]map[string]map[string]bool

// Has reports whether metric was shown with label (any value).
func (s Scrape) Has(metric, label string) bool { return s[metric][label] != nil }

func (s Scrape) add(metric, label, value string) {
	if s[metric] == nil {
		s[metric] = map[string]map[string]bool{}
	}
	if label == "" {
		return
	}
	if s[metric][label] == nil {
		s[metric][label] = map[string]bool{}
	}
	s[metric][label][value] = true
}

// ParseScrape reads the Prometheus text format.
func ParseScrape(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	s := Scrape{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, n := range sampleNames(name, f.GetType()) {
				s.add(n, "", "")
				for _, l := range m.GetLabel() {
					s.add(n, l.GetName(), l.GetValue())
				}
				if strings.HasSuffix(n, "_bucket") {
					for _, b := range m.GetHistogram().GetBucket() {
						s.add(n, "le", fmt.Sprint(b.GetUpperBound()))
					}
				}
				if f.GetType() == dto.MetricType_SUMMARY && n == name {
					for _, q := range m.GetSummary().GetQuantile() {
						s.add(n, "quantile", fmt.Sprint(q.GetQuantile()))
					}
				}
			}
		}
	}
	return s, nil
}

func sampleNames(name string, t dto.MetricType) []string {
	switch t {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	case dto.MetricType_SUMMARY:
		return []string{name, name + "_sum", name + "_count"}
	case dto.MetricType_COUNTER:
		if !strings.HasSuffix(name, "_total") {
			return []string{name, name + "_total"}
		}
	}
	return []string{name}
}

// Merge adds o's samples to s (the worker's and the starter's scrapes).
func (s Scrape) Merge(o Scrape) {
	for n, ls := range o {
		s.add(n, "", "")
		for l, vs := range ls {
			for v := range vs {
				s.add(n, l, v)
			}
		}
	}
}
