package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// The objects every overlay must render, by kind.
var want = map[string][]string{
	"Deployment":     {"awdaflow-starter", "awdaflow-worker"},
	"Job":            {"awdaflow-migrate", "awdaflow-replay-gate"},
	"Service":        {"awdaflow-starter-internal", "awdaflow-starter-webhooks", "awdaflow-worker-metrics"},
	"Ingress":        {"awdaflow-webhooks"},
	"PDB":            {"awdaflow-starter", "awdaflow-worker"},
	"ServiceMonitor": {"awdaflow"},
	"ServiceAccount": {"awdaflow"},
}

// TestStrictDecodingRejectsTypos holds the decoder to its promise: a
// misspelt field, a field in the wrong case and a duplicate field each fail,
// where encoding/json would pass them.
func TestStrictDecodingRejectsTypos(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replica":2}}`,
		"wrong case":    `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"Replicas":2}}`,
		"duplicate":     `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2,"replicas":3}}`,
		"nested":        `{"spec":{"template":{"spec":{"containers":[{"name":"w","readOnlyRootFileSystem":true}]}}}}`,
	} {
		if err := decodeStrict([]byte(doc), &appsv1.Deployment{}); err == nil {
			t.Errorf("%s: decoded without error: %s", name, doc)
		}
	}
	if err := decodeStrict([]byte(`{"spec":{"replicas":2}}`), &appsv1.Deployment{}); err != nil {
		t.Errorf("a correct document fails: %v", err)
	}
}

// TestRender: every overlay renders, every object decodes strictly into its
// type (render), the expected objects are all there, and every object lives
// in the overlay's namespace with a valid name.
func TestRender(t *testing.T) {
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		got := map[string][]string{
			"Deployment": sortedKeys(m.deployments), "Job": sortedKeys(m.jobs), "Service": sortedKeys(m.services),
			"Ingress": sortedKeys(m.ingresses), "PDB": sortedKeys(m.pdbs), "ServiceMonitor": sortedKeys(m.serviceMonitors),
			"ServiceAccount": sortedKeys(m.serviceAccounts),
		}
		for kind, names := range want {
			if !slices.Equal(got[kind], names) {
				t.Errorf("%s: %s objects %v, want %v", overlay, kind, got[kind], names)
			}
		}
		if len(m.netpols) == 0 || len(m.rules) == 0 {
			t.Errorf("%s: no NetworkPolicy or no PrometheusRule", overlay)
		}
		for name, r := range m.rules {
			if len(r.Spec.Groups) == 0 {
				t.Errorf("%s: PrometheusRule %s has no groups", overlay, name)
			}
		}
		ns := m.namespaces[m.namespace]
		if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("%s: namespace %s does not enforce the restricted Pod Security Standard", overlay, m.namespace)
		}
		t.Logf("%s: %d objects in namespace %s", overlay, m.count, m.namespace)
		checkNamespaces(t, m)
	}
}

func checkNamespaces(t *testing.T, m *manifests) {
	t.Helper()
	check := func(kind, name, ns string) {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%s: %s %s: %v", m.overlay, kind, name, errs)
		}
		if ns != m.namespace {
			t.Errorf("%s: %s %s is in namespace %q, want %q", m.overlay, kind, name, ns, m.namespace)
		}
	}
	for n, o := range m.deployments {
		check("Deployment", n, o.Namespace)
	}
	for n, o := range m.jobs {
		check("Job", n, o.Namespace)
	}
	for n, o := range m.services {
		check("Service", n, o.Namespace)
	}
	for n, o := range m.configMaps {
		check("ConfigMap", n, o.Namespace)
	}
	for n, o := range m.netpols {
		check("NetworkPolicy", n, o.Namespace)
	}
	for n, o := range m.ingresses {
		check("Ingress", n, o.Namespace)
	}
	for n, o := range m.serviceMonitors {
		check("ServiceMonitor", n, o.Namespace)
	}
	for n, o := range m.rules {
		check("PrometheusRule", n, o.Namespace)
	}
}

// TestPodSecurity: every pod runs non-root with the runtime's seccomp
// profile, no service-account token, nothing from the host; every
// container has a read-only root filesystem, no privilege escalation, no
// capability, and requests and limits for CPU and memory.
func TestPodSecurity(t *testing.T) {
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, w := range m.workloads() {
			where := fmt.Sprintf("%s: %s %s", overlay, w.kind, w.name)
			ps := w.template.Spec
			sc := ps.SecurityContext
			if sc == nil || !isTrue(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
				sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: want runAsNonRoot, a non-zero runAsUser and seccomp RuntimeDefault on the pod", where)
			}
			if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken ||
				!isFalse(m.serviceAccounts[ps.ServiceAccountName].AutomountServiceAccountToken) {
				t.Errorf("%s: a service-account token is mounted (serviceAccountName %q); awdaflow calls no Kubernetes API", where, ps.ServiceAccountName)
			}
			if ps.HostNetwork || ps.HostPID || ps.HostIPC {
				t.Errorf("%s: uses the host's namespaces", where)
			}
			for _, v := range ps.Volumes {
				if v.EmptyDir == nil {
					t.Errorf("%s: volume %s: only emptyDir volumes are expected", where, v.Name)
				}
			}
			if len(ps.InitContainers) > 0 || len(ps.Containers) != 1 {
				t.Errorf("%s: want one container and no init containers", where)
			}
			for _, c := range ps.Containers {
				checkContainerSecurity(t, where+", container "+c.Name, c)
			}
		}
	}
}

func checkContainerSecurity(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || !isFalse(sc.AllowPrivilegeEscalation) || isTrue(sc.Privileged) ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: want readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop [ALL] and none added", where)
	}
	if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: runs as root", where)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		limit, hasLimit := c.Resources.Limits[r]
		switch {
		case !hasReq || !hasLimit:
			t.Errorf("%s: want a %s request and limit", where, r)
		case req.Cmp(limit) > 0:
			t.Errorf("%s: %s request %s above its limit %s", where, r, req.String(), limit.String())
		case r == corev1.ResourceMemory && limit.Cmp(resource.MustParse("128Mi")) < 0:
			t.Errorf("%s: a memory limit of %s is too small for a Go binary with a Temporal client", where, limit.String())
		}
	}
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// composeFile is the part of docker-compose.yml these tests compare with.
type composeFile struct {
	Services map[string]struct {
		Image      string   `json:"image"`
		Entrypoint []string `json:"entrypoint"`
		Command    []string `json:"command"`
	} `json:"services"`
}

// TestImagesAndCommands: every container runs the image docker-compose.yml
// builds (the same repository name; production pins a release tag), with
// the command line compose gives the same service.
func TestImagesAndCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	composeRepo, _, _ := strings.Cut(compose.Services["worker"].Image, ":")
	if composeRepo != "awdaflow" {
		t.Fatalf("docker-compose.yml: worker image %q: this test expects awdaflow:TAG", compose.Services["worker"].Image)
	}
	wantCmd := map[string][]string{"awdaflow-replay-gate": {"/usr/local/bin/worker", "replay-gate"}}
	for svc, obj := range map[string]string{"worker": "awdaflow-worker", "starter": "awdaflow-starter", "migrate": "awdaflow-migrate"} {
		s := compose.Services[svc]
		wantCmd[obj] = slices.Concat(s.Entrypoint, s.Command)
	}
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, w := range m.workloads() {
			c := w.template.Spec.Containers[0]
			where := fmt.Sprintf("%s: %s %s", overlay, w.kind, w.name)
			if got := commandOf(c); !slices.Equal(got, wantCmd[w.name]) {
				t.Errorf("%s: runs %v, compose's same service %v", where, got, wantCmd[w.name])
			}
			repo, tag, _ := strings.Cut(c.Image, ":")
			if repo != composeRepo && !strings.HasSuffix(repo, "/"+composeRepo) {
				t.Errorf("%s: image %q is not compose's %s", where, c.Image, composeRepo)
			}
			if tag == "" || tag == "latest" || (overlay == "production" && (tag == "local" || !strings.Contains(repo, "/"))) {
				t.Errorf("%s: image %q: want a pinned tag (production: a registry and a release tag)", where, c.Image)
			}
			if c.ImagePullPolicy == corev1.PullAlways {
				t.Errorf("%s: imagePullPolicy Always: a pinned tag needs no pull on every start", where)
			}
		}
	}
}

// selects reports whether a Service's selector selects a pod template.
func selects(sel map[string]string, pod *corev1.PodTemplateSpec) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels))
}

// labelSelects reports whether a label selector (matchLabels and
// matchExpressions) selects an object's labels; an empty one selects none
// here (an empty selector selecting everything is never what is meant).
func labelSelects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(l))
}
