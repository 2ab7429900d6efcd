package monitoring_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/awdaflow/awdaflow/tools/monitoring"
	"github.com/awdaflow/awdaflow/tools/stack"
)

// root is the repository root (the product module's directory).
func root(t *testing.T) string {
	t.Helper()
	r, err := stack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func prometheusRule(t *testing.T) *monitoring.PrometheusRule {
	t.Helper()
	pr, err := monitoring.ReadPrometheusRule(filepath.Join(root(t), monitoring.PrometheusRuleFile))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// The PrometheusRule's groups are a valid Prometheus rules file (rulefmt:
// every expression parses, every template compiles, names and labels are
// valid), the plain rules file is generated from them and up to date, and
// every group holds rules.
func TestRulesParse(t *testing.T) {
	pr := prometheusRule(t)
	plain, err := monitoring.PlainRules(pr)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := monitoring.ParseRules(plain)
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	if len(groups.Groups) != len(pr.Spec.Groups) || len(groups.Groups) == 0 {
		t.Fatalf("%d groups parsed from %d", len(groups.Groups), len(pr.Spec.Groups))
	}
	for _, g := range groups.Groups {
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rule", g.Name)
		}
	}

	path := filepath.Join(root(t), monitoring.PlainRulesFile)
	if os.Getenv("UPDATE_RULES") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, plain, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_RULES=1 writes it)", err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("%s is not what %s generates: run UPDATE_RULES=1 go test ./monitoring/ -run TestRulesParse",
			monitoring.PlainRulesFile, monitoring.PrometheusRuleFile)
	}
}

// kebab spells an alert name in kebab case: TemporalNonDeterminismError →
// temporal-non-determinism-error, AwdaflowAWDABusy → awdaflow-awda-busy.
func kebab(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) ||
			(i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestKebab(t *testing.T) {
	for in, want := range map[string]string{
		"TemporalNonDeterminismError": "temporal-non-determinism-error",
		"AwdaflowAWDABusy":            "awdaflow-awda-busy",
		"TemporalGrpcMessageTooLarge": "temporal-grpc-message-too-large",
	} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%s) = %s, want %s", in, got, want)
		}
	}
}

var (
	explicitAnchor = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	heading        = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	docLink        = regexp.MustCompile(`\]\(#([^)]+)\)`)
)

// anchors are the fragment targets of a Markdown document as GitHub renders
// it: explicit <a id> anchors and heading slugs.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range explicitAnchor.FindAllStringSubmatch(doc, -1) {
		out[m[1]] = true
	}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(doc, -1) {
		slug := githubSlug(m[1])
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// githubSlug is GitHub's heading anchor: lower case, punctuation but - and _
// dropped, spaces to -.
func githubSlug(h string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(h) {
		switch {
		case c == ' ':
			b.WriteByte('-')
		case c == '-' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Every alert says what fired (summary, description) and links to its
// playbook, #playbook-<name in kebab case>, an anchor docs/operations.md
// has; and every in-page link of the document's alerts section (to the
// incident playbooks among others) lands on an anchor.
func TestAlertsLinkTheirPlaybooks(t *testing.T) {
	docBytes, err := os.ReadFile(filepath.Join(root(t), monitoring.OperationsDoc))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docBytes)
	have := anchors(doc)
	n := 0
	for _, g := range prometheusRule(t).Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, k)
				}
			}
			if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			}
			want := monitoring.RunbookBase + "playbook-" + kebab(r.Alert)
			if got := r.Annotations["runbook_url"]; got != want {
				t.Errorf("%s: runbook_url %s, want %s", r.Alert, got, want)
			}
			if !have["playbook-"+kebab(r.Alert)] {
				t.Errorf("%s: %s has no anchor playbook-%s", r.Alert, monitoring.OperationsDoc, kebab(r.Alert))
			}
		}
	}
	if n < 12 {
		t.Errorf("%d alerts; the five Temporal recommends and ours make at least 12", n)
	}
	section := alertsSection(t, doc)
	for _, m := range docLink.FindAllStringSubmatch(section, -1) {
		if !have[m[1]] {
			t.Errorf("%s, %s: link to #%s, which is no anchor there", monitoring.OperationsDoc, alertsHeading, m[1])
		}
	}
}

const alertsHeading = "## Alerts and dashboards"

// alertsSection is the document's alerts section, up to the next section.
func alertsSection(t *testing.T, doc string) string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+alertsHeading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", monitoring.OperationsDoc, alertsHeading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	return section
}

// Every dashboard is provisioning-ready: a uid and title of its own, its
// Prometheus data source chosen by a variable (no data source UID of
// someone's Grafana), unique panel IDs, panels within the 24-column grid,
// and every target parses as PromQL naming a metric.
func TestDashboardsParse(t *testing.T) {
	ds, err := monitoring.ReadDashboards(filepath.Join(root(t), monitoring.DashboardsDir))
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for file, d := range ds {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q", file, d.UID, d.Title)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", file, other, d.UID)
		}
		uids[d.UID] = file
		hasDS := false
		for _, v := range d.Templating.List {
			hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
		}
		if !hasDS {
			t.Errorf("%s: no datasource variable of type prometheus", file)
		}
		ids := map[int]bool{}
		targets := 0
		for _, p := range d.AllPanels() {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d twice", file, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
				t.Errorf("%s: panel %q outside the grid: %+v", file, p.Title, p.GridPos)
			}
			if p.Type == "row" {
				continue
			}
			if p.Datasource["uid"] != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q: datasource %v, %d targets; want ${datasource} and a target", file, p.Title, p.Datasource, len(p.Targets))
			}
			for _, tg := range p.Targets {
				targets++
				if tg.Datasource["uid"] != "${datasource}" {
					t.Errorf("%s: panel %q target %s: datasource %v", file, p.Title, tg.RefID, tg.Datasource)
				}
			}
		}
		if targets == 0 {
			t.Errorf("%s: no target", file)
		}
	}
	for _, q := range monitoring.DashboardQueries(ds) {
		u, err := monitoring.MetricUses(q.Expr)
		if err != nil {
			t.Errorf("%s: %v\n\t%s", q.Where, err, q.Expr)
		} else if len(u) == 0 {
			t.Errorf("%s names no metric: %s", q.Where, q.Expr)
		}
	}
}
