package k8s_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// starterServer is `starter serve`'s real HTTP handler (internal/api with
// the real metrics handler), built in-process. Its store and Temporal
// client are never reached by the requests these tests send: /healthz, a
// draining readiness path and /metrics answer without them.
func starterServer(t *testing.T) *api.Server {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Store: &store.Store{}, Temporal: c, Logger: zerolog.Nop(), Metrics: m.Handler(), MeterProvider: m.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// probes are a container's probes by role.
func probes(c corev1.Container) map[string]*corev1.Probe {
	return map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
}

// probePath checks that a probe is an HTTP GET on a named port of the
// container and returns its path and the container port.
func probePath(t *testing.T, where string, c corev1.Container, p *corev1.Probe) (string, int32) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s: want an httpGet probe", where)
	}
	port := containerPort(c, p.HTTPGet.Port)
	if port == 0 {
		t.Errorf("%s: probe port %s is not a port of the container", where, p.HTTPGet.Port.String())
	}
	return p.HTTPGet.Path, port
}

// containerPort resolves a named or numbered port to a container port (0:
// none).
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

// TestStarterProbesAndPort asks the starter's real handler about its
// probes: liveness and startup answer 200 even while it drains (so nothing
// restarts a draining starter), readiness is the webhook path's (PostgreSQL
// only: a Temporal outage must not empty the webhook Service) and turns
// 503 "draining" on SIGTERM; the container port is where STARTER_HTTP_ADDR
// listens, the default's port.
func TestStarterProbesAndPort(t *testing.T) {
	sets := scanKnobSets(t)
	srv := starterServer(t)
	srv.BeginDrain()
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		c := m.deployments["awdaflow-starter"].Spec.Template.Spec.Containers[0]
		where := overlay + ": starter"
		env := containerEnv(t, m, where, c)
		port := listenPort(t, where, env["STARTER_HTTP_ADDR"].value)
		if def := sets.starter["STARTER_HTTP_ADDR"].def; !strings.HasSuffix(def, ":"+port) {
			t.Errorf("%s: listens on %s, the default (%s) on another port: keep them one", where, port, def)
		}
		if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port || c.Ports[0].Name != "http" {
			t.Errorf("%s: container ports %+v, want one named http on %s", where, c.Ports, port)
		}
		for role, p := range probes(c) {
			path, pport := probePath(t, where+" "+role, c, p)
			if strconv.Itoa(int(pport)) != port {
				t.Errorf("%s: %s probe on port %d, the server listens on %s", where, role, pport, port)
			}
			rec := get(srv, path)
			var body api.Readiness
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			switch role {
			case "readiness":
				if path != api.PathReadyWebhooks || rec.Code != http.StatusServiceUnavailable || body.Status != "draining" {
					t.Errorf("%s: readiness %s answers %d %q while draining; want %s, 503 draining", where, path, rec.Code, body.Status, api.PathReadyWebhooks)
				}
			default:
				if rec.Code != http.StatusOK {
					t.Errorf("%s: %s probe %s answers %d while draining, want 200 (else a draining starter is restarted)", where, role, path, rec.Code)
				}
			}
		}
	}
}

// TestWorkerProbesAndPort: the worker's probes are routes it registers
// (worker/http.go), on the port WORKER_HTTP_ADDR listens on, the default's.
func TestWorkerProbesAndPort(t *testing.T) {
	routes := workerRoutes(t)
	_, defPort, _ := strings.Cut(config.DefaultHTTPAddr, ":")
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		c := m.deployments["awdaflow-worker"].Spec.Template.Spec.Containers[0]
		where := overlay + ": worker"
		env := containerEnv(t, m, where, c)
		port := listenPort(t, where, env[config.EnvHTTPAddr].value)
		if port != defPort {
			t.Errorf("%s: listens on %s, the default (%s) on another port: keep them one", where, port, config.DefaultHTTPAddr)
		}
		if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port || c.Ports[0].Name != "http" {
			t.Errorf("%s: container ports %+v, want one named http on %s", where, c.Ports, port)
		}
		for role, p := range probes(c) {
			path, _ := probePath(t, where+" "+role, c, p)
			if !slices.Contains(routes, "GET "+path) {
				t.Errorf("%s: %s probe %s is not a route of the worker (%v)", where, role, path, routes)
			}
		}
		if p := c.ReadinessProbe.HTTPGet.Path; p != "/readyz" {
			t.Errorf("%s: readiness %s, want /readyz (Temporal and PostgreSQL)", where, p)
		}
	}
}

// TestTimeouts: a pod's grace period covers its process's whole stop (so
// the kubelet's SIGKILL never cuts a drain or a running activity short),
// and its startup probe waits as long as its start may take.
func TestTimeouts(t *testing.T) {
	sets := scanKnobSets(t)
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		w := m.deployments["awdaflow-worker"].Spec.Template.Spec
		wenv := containerEnv(t, m, overlay+": worker", w.Containers[0])
		wcfg := loadShared(t, overlay+": worker", wenv)
		// worker/app.go: stopTimeout = WORKER_STOP_TIMEOUT + 15 s.
		checkWindow(t, overlay+": worker grace", seconds(w.TerminationGracePeriodSeconds), wcfg.Worker.StopTimeout+15*time.Second)
		checkWindow(t, overlay+": worker startup probe", probeWindow(w.Containers[0].StartupProbe), wcfg.Worker.StartTimeout)

		s := m.deployments["awdaflow-starter"].Spec.Template.Spec
		senv := containerEnv(t, m, overlay+": starter", s.Containers[0])
		scfg := loadShared(t, overlay+": starter", senv)
		drain := duration(t, overlay, senv, sets.starter["STARTER_DRAIN_DELAY"])
		shutdown := duration(t, overlay, senv, sets.starter["STARTER_SHUTDOWN_TIMEOUT"])
		// starter/config.go: stopTimeout = drain delay + shutdown timeout + 15 s.
		checkWindow(t, overlay+": starter grace", seconds(s.TerminationGracePeriodSeconds), drain+shutdown+15*time.Second)
		// starter/main.go: the start may take TEMPORAL_CONNECT_TIMEOUT + 2 min.
		checkWindow(t, overlay+": starter startup probe", probeWindow(s.Containers[0].StartupProbe), scfg.Temporal.ConnectTimeout+2*time.Minute)
		// Endpoints and the ingress must see the pod unready before its
		// listener closes: two failed readiness probes within the drain.
		rp := s.Containers[0].ReadinessProbe
		if unready := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second; unready > drain {
			t.Errorf("%s: starter: readiness takes %v to fail, the drain delay is %v: requests would meet a closed listener", overlay, unready, drain)
		}
		// api's readiness checks are bounded by 3 s each: the probe must
		// wait for the answer.
		if rp.TimeoutSeconds <= 3 {
			t.Errorf("%s: starter: readiness timeout %ds; the server answers within 3 s, give it more", overlay, rp.TimeoutSeconds)
		}
	}
}

func seconds(s *int64) time.Duration {
	if s == nil {
		return 30 * time.Second // Kubernetes' default
	}
	return time.Duration(*s) * time.Second
}

func probeWindow(p *corev1.Probe) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.InitialDelaySeconds+p.PeriodSeconds*p.FailureThreshold) * time.Second
}

func checkWindow(t *testing.T, what string, got, need time.Duration) {
	t.Helper()
	if got < need {
		t.Errorf("%s: %v, needs at least %v", what, got, need)
	}
}

// TestServicesAndIngress: every Service selects exactly one Deployment's
// pods (never a Job's) on a port the container has; the Ingress routes the
// webhook routes and nothing else of the starter's (asked of the real
// server's routing table), to the webhook Service.
func TestServicesAndIngress(t *testing.T) {
	routes := starterServer(t).Routes()
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, name := range sortedKeys(m.services) {
			svc := m.services[name]
			where := overlay + ": Service " + name
			var selected []workload
			for _, w := range m.workloads() {
				if selects(svc.Spec.Selector, w.template) {
					selected = append(selected, w)
				}
			}
			if len(selected) != 1 || selected[0].kind != "Deployment" {
				t.Errorf("%s: selects %v, want exactly one Deployment", where, selected)
				continue
			}
			for _, p := range svc.Spec.Ports {
				if containerPort(selected[0].template.Spec.Containers[0], p.TargetPort) == 0 {
					t.Errorf("%s: port %s targets %s, not a port of %s", where, p.Name, p.TargetPort.String(), selected[0].name)
				}
			}
		}
		ing := m.ingresses["awdaflow-webhooks"]
		var prefixes []string
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != "awdaflow-starter-webhooks" || !hasServicePort(m.services[b.Name], b.Port.Name, b.Port.Number) {
					t.Errorf("%s: Ingress path %s goes to %+v, want the webhook Service's port", overlay, p.Path, p.Backend)
				}
				if p.PathType == nil || *p.PathType != "Prefix" {
					t.Errorf("%s: Ingress path %s: want pathType Prefix", overlay, p.Path)
				}
				prefixes = append(prefixes, p.Path)
			}
		}
		checkPublicRoutes(t, overlay, routes, prefixes)
	}
}

func hasServicePort(svc *corev1.Service, name string, number int32) bool {
	if svc == nil {
		return false
	}
	return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return (name != "" && p.Name == name) || (number != 0 && p.Port == number)
	})
}

// checkPublicRoutes: the routes an Ingress Prefix path matches (Kubernetes'
// element-wise prefix match) are exactly the webhook routes.
func checkPublicRoutes(t *testing.T, overlay string, routes, prefixes []string) {
	t.Helper()
	webhooks := []string{webhook.PathLoanStatus, webhook.PathAuthorization}
	for _, r := range routes {
		_, path, _ := strings.Cut(r, " ")
		public := slices.ContainsFunc(prefixes, func(p string) bool { return prefixMatch(p, path) })
		if public != slices.Contains(webhooks, path) {
			t.Errorf("%s: route %s public=%v through the Ingress; only the webhook routes %v may be", overlay, r, public, webhooks)
		}
	}
	for _, w := range webhooks {
		if !slices.ContainsFunc(routes, func(r string) bool { return strings.HasSuffix(r, " "+w) }) {
			t.Errorf("the starter no longer serves %s: teach this test", w)
		}
	}
}

// prefixMatch is an Ingress Prefix match: prefix's path elements are the
// first elements of path's ("/a/b" matches "/a/b" and "/a/b/c", not "/a/bc").
func prefixMatch(prefix, path string) bool {
	pe := strings.Split(strings.Trim(prefix, "/"), "/")
	xe := strings.Split(strings.Trim(path, "/"), "/")
	return len(pe) <= len(xe) && slices.Equal(pe, xe[:len(pe)])
}

// TestScrapingAndDisruption: the ServiceMonitor scrapes every Deployment
// through exactly one Service, on a port the Service has, on a path its
// binary serves (the starter's asked in-process: it answers 200 with the
// Go runtime's metrics); every Deployment has a PodDisruptionBudget that
// lets a drain proceed.
func TestScrapingAndDisruption(t *testing.T) {
	srv := starterServer(t)
	paths := map[string][]string{"awdaflow-worker": workerRoutes(t), "awdaflow-starter": srv.Routes()}
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		sm := m.serviceMonitors["awdaflow"]
		scraped := map[string]int{}
		for _, name := range sortedKeys(m.services) {
			svc := m.services[name]
			if !labelSelects(t, &sm.Spec.Selector, svc.Labels) {
				continue
			}
			dep := deploymentOf(m, svc.Spec.Selector)
			for _, ep := range sm.Spec.Endpoints {
				if !hasServicePort(svc, ep.Port, 0) {
					t.Errorf("%s: ServiceMonitor port %q is not a port of Service %s", overlay, ep.Port, name)
				}
				if !slices.Contains(paths[dep], "GET "+ep.Path) {
					t.Errorf("%s: ServiceMonitor path %s is not a route of %s", overlay, ep.Path, dep)
				}
			}
			scraped[dep]++
		}
		for _, dep := range sortedKeys(m.deployments) {
			if scraped[dep] != 1 {
				t.Errorf("%s: %s is scraped through %d Services, want 1", overlay, dep, scraped[dep])
			}
			d := m.deployments[dep]
			var budgets int
			for _, pdb := range m.pdbs {
				if labelSelects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
					budgets++
					if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() < 1 {
						t.Errorf("%s: PDB %s: want maxUnavailable ≥ 1, so that a node drain can proceed at any replica count", overlay, pdb.Name)
					}
				}
			}
			if budgets != 1 {
				t.Errorf("%s: %s has %d PodDisruptionBudgets, want 1", overlay, dep, budgets)
			}
		}
		if rec := get(srv, "/metrics"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("the starter's /metrics answers %d without the Go runtime's metrics", rec.Code)
		}
	}
}

func deploymentOf(m *manifests, sel map[string]string) string {
	for _, n := range sortedKeys(m.deployments) {
		if selects(sel, &m.deployments[n].Spec.Template) {
			return n
		}
	}
	return fmt.Sprintf("(none for %v)", sel)
}
