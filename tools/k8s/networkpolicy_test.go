package k8s_test

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/awdaflow/awdaflow/internal/config"
)

// postgresPort is PostgreSQL's port, as the overlays' README examples of
// DATABASE_URL have it (the URL itself is a Secret, unseen here).
const postgresPort = 5432

// policiesFor are the NetworkPolicies that select a pod.
func policiesFor(t *testing.T, m *manifests, pod *corev1.PodTemplateSpec) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, n := range sortedKeys(m.netpols) {
		np := m.netpols[n]
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatalf("%s: NetworkPolicy %s: %v", m.overlay, n, err)
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, np)
		}
	}
	return out
}

func hasType(np *networkingv1.NetworkPolicy, pt networkingv1.PolicyType) bool {
	for _, p := range np.Spec.PolicyTypes {
		if p == pt {
			return true
		}
	}
	return false
}

// portAllowed reports whether a rule's ports let (port, proto) through; a
// named port resolves against the pod's container (ingress only).
func portAllowed(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol, c *corev1.Container) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto || p.Port == nil {
			continue
		}
		n := p.Port.IntVal
		if p.Port.StrVal != "" && c != nil {
			n = containerPort(*c, *p.Port)
		}
		if n == port || (p.EndPort != nil && port >= n && port <= *p.EndPort) {
			return true
		}
	}
	return false
}

// egressAllowed reports whether any policy lets the pod out to port.
func egressAllowed(nps []*networkingv1.NetworkPolicy, port int32, proto corev1.Protocol) bool {
	for _, np := range nps {
		if !hasType(np, networkingv1.PolicyTypeEgress) {
			continue
		}
		for _, r := range np.Spec.Egress {
			if portAllowed(r.Ports, port, proto, nil) {
				return true
			}
		}
	}
	return false
}

// ingressFrom lists the namespaces (kubernetes.io/metadata.name) allowed
// into the container's port; "*" for a rule without peers (anyone).
func ingressFrom(nps []*networkingv1.NetworkPolicy, c *corev1.Container, port int32) map[string]bool {
	out := map[string]bool{}
	for _, np := range nps {
		if !hasType(np, networkingv1.PolicyTypeIngress) {
			continue
		}
		for _, r := range np.Spec.Ingress {
			if !portAllowed(r.Ports, port, corev1.ProtocolTCP, c) {
				continue
			}
			if len(r.From) == 0 {
				out["*"] = true
			}
			for _, peer := range r.From {
				switch {
				case peer.IPBlock != nil:
					out["ip:"+peer.IPBlock.CIDR] = true
				case peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "":
					out[peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]] = true
				case peer.NamespaceSelector != nil:
					out["labelled:"+labels.Set(peer.NamespaceSelector.MatchLabels).String()] = true
				default:
					out["own namespace"] = true
				}
			}
		}
	}
	return out
}

// portOf is the port of a host:port address or of a URL (its scheme's
// default when it names none).
func portOf(t *testing.T, where, addr string) int32 {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		p := u.Port()
		if p == "" {
			p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		addr = net.JoinHostPort(u.Hostname(), p)
	}
	_, p, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Fatalf("%s: %q has no port", where, addr)
	}
	return int32(n)
}

// TestNetworkPolicy: every awdaflow pod is isolated both ways (default
// deny), then let out exactly to what its command needs — DNS, Temporal's
// port (from TEMPORAL_ADDRESS), PostgreSQL's, AWDA's (from AWDA_BASE_URL);
// the migrate Job to DNS and PostgreSQL only — and in only on its port, from
// named namespaces: the starter from the ingress controller (the public
// webhook path), the worker from Prometheus only, the Jobs from no one.
func TestNetworkPolicy(t *testing.T) {
	for _, overlay := range overlays(t) {
		m := render(t, overlay)
		for _, w := range m.workloads() {
			where := fmt.Sprintf("%s: %s %s", overlay, w.kind, w.name)
			nps := policiesFor(t, m, w.template)
			var in, out bool
			for _, np := range nps {
				in = in || hasType(np, networkingv1.PolicyTypeIngress)
				out = out || hasType(np, networkingv1.PolicyTypeEgress)
			}
			if !in || !out {
				t.Errorf("%s: not isolated (ingress %v, egress %v): a default-deny policy must select it", where, in, out)
				continue
			}
			c := &w.template.Spec.Containers[0]
			env := containerEnv(t, m, where, *c)
			needs := map[int32]bool{53: true, postgresPort: true}
			temporal, awda := portOf(t, where, config.DefaultTemporalAddress), portOf(t, where, "https://awda")
			if v, ok := env[config.EnvTemporalAddress]; ok {
				temporal = portOf(t, where, v.value)
			}
			if v, ok := env[config.EnvAWDABaseURL]; ok {
				awda = portOf(t, where, v.value)
			}
			_, runtime := env[config.EnvAWDAAppID]
			needs[temporal], needs[awda] = runtime, runtime
			for port, need := range needs {
				if got := egressAllowed(nps, port, corev1.ProtocolTCP); got != need {
					t.Errorf("%s: egress to TCP %d allowed=%v, want %v", where, port, got, need)
				}
			}
			if !egressAllowed(nps, 53, corev1.ProtocolUDP) {
				t.Errorf("%s: no DNS (UDP 53)", where)
			}
			checkIngress(t, where, w, nps, c)
		}
	}
}

func checkIngress(t *testing.T, where string, w workload, nps []*networkingv1.NetworkPolicy, c *corev1.Container) {
	t.Helper()
	want := map[string]map[string]bool{
		"awdaflow-starter": {"ingress-nginx": true, "monitoring": true, "labelled:awdaflow.io/api-client=true": true},
		"awdaflow-worker":  {"monitoring": true},
	}[w.name]
	for _, cp := range c.Ports {
		got := ingressFrom(nps, c, cp.ContainerPort)
		if len(got) != len(want) {
			t.Errorf("%s: port %d open to %v, want %v", where, cp.ContainerPort, got, want)
			continue
		}
		for k := range want {
			if !got[k] {
				t.Errorf("%s: port %d open to %v, want %v", where, cp.ContainerPort, got, want)
			}
		}
	}
	if w.kind == "Job" && len(ingressFrom(nps, c, 1)) > 0 {
		t.Errorf("%s: a Job lets traffic in", where)
	}
}
