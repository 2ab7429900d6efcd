package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// root is the repository root (this package sits two levels below it).
const root = "../.."

var k8sDir = filepath.Join(root, "deploy", "k8s")

// overlays lists deploy/k8s/overlays: every one is rendered and checked.
func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(k8sDir, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if !slices.Contains(out, "production") || !slices.Contains(out, "dev") {
		t.Fatalf("overlays %v: want at least dev and production", out)
	}
	return out
}

// kinds maps apiVersion/kind to a new typed object. A kind not listed here
// fails the render: it would be decoded by no one, so checked by no one.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// decodeStrict decodes one object's JSON into its typed value the way the
// API server's strict field validation does (sigs.k8s.io/json): an unknown
// field, a duplicate field or a field in the wrong case is an error, where
// encoding/json would drop it or match it case-insensitively.
func decodeStrict(data []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(data, into)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("strict decoding: %v", strict)
	}
	return nil
}

// manifests is one overlay, rendered and decoded.
type manifests struct {
	overlay         string
	namespace       string
	count           int
	namespaces      map[string]*corev1.Namespace
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	deployments     map[string]*appsv1.Deployment
	jobs            map[string]*batchv1.Job
	pdbs            map[string]*policyv1.PodDisruptionBudget
	netpols         map[string]*networkingv1.NetworkPolicy
	ingresses       map[string]*networkingv1.Ingress
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	rules           map[string]*monitoringv1.PrometheusRule
}

// workload is a pod template and what runs it.
type workload struct {
	kind, name string
	template   *corev1.PodTemplateSpec
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, n := range sortedKeys(m.deployments) {
		out = append(out, workload{"Deployment", n, &m.deployments[n].Spec.Template})
	}
	for _, n := range sortedKeys(m.jobs) {
		out = append(out, workload{"Job", n, &m.jobs[n].Spec.Template})
	}
	return out
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]*manifests{}
)

// render builds an overlay with kustomize's Go packages, as `kubectl apply
// -k` would, and decodes every object strictly (once per overlay per run).
func render(t *testing.T, overlay string) *manifests {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if m, ok := renderCache[overlay]; ok {
		return m
	}
	dir := filepath.Join(k8sDir, "overlays", overlay)
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{overlay: overlay,
		namespaces: map[string]*corev1.Namespace{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, netpols: map[string]*networkingv1.NetworkPolicy{},
		ingresses: map[string]*networkingv1.Ingress{}, serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
		rules: map[string]*monitoringv1.PrometheusRule{}}
	for _, r := range resMap.Resources() {
		gvk := r.GetGvk()
		key := gvk.ApiVersion() + "/" + gvk.Kind
		where := fmt.Sprintf("%s: %s %s", overlay, key, r.GetName())
		if gvk.Kind == "Secret" {
			t.Errorf("%s: the manifests hold no Secret (secrets are references; the README lists them)", where)
			continue
		}
		newObj, ok := kinds[key]
		if !ok {
			t.Errorf("%s: a kind this test does not decode; add it to kinds", where)
			continue
		}
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		obj := newObj()
		if err := decodeStrict(data, obj); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		m.add(t, where, obj)
	}
	m.count = resMap.Size()
	if len(m.namespaces) != 1 {
		t.Fatalf("%s: %d Namespace objects, want the overlay's one", overlay, len(m.namespaces))
	}
	m.namespace = sortedKeys(m.namespaces)[0]
	renderCache[overlay] = m
	return m
}

// add files a decoded object under its kind, refusing duplicates.
func (m *manifests) add(t *testing.T, where string, obj any) {
	t.Helper()
	dup := false
	switch o := obj.(type) {
	case *corev1.Namespace:
		dup = put(m.namespaces, o.Name, o)
	case *corev1.ServiceAccount:
		dup = put(m.serviceAccounts, o.Name, o)
	case *corev1.ConfigMap:
		dup = put(m.configMaps, o.Name, o)
	case *corev1.Service:
		dup = put(m.services, o.Name, o)
	case *appsv1.Deployment:
		dup = put(m.deployments, o.Name, o)
	case *batchv1.Job:
		dup = put(m.jobs, o.Name, o)
	case *policyv1.PodDisruptionBudget:
		dup = put(m.pdbs, o.Name, o)
	case *networkingv1.NetworkPolicy:
		dup = put(m.netpols, o.Name, o)
	case *networkingv1.Ingress:
		dup = put(m.ingresses, o.Name, o)
	case *monitoringv1.ServiceMonitor:
		dup = put(m.serviceMonitors, o.Name, o)
	case *monitoringv1.PrometheusRule:
		dup = put(m.rules, o.Name, o)
	default:
		t.Fatalf("%s: no slot for %T", where, obj)
	}
	if dup {
		t.Errorf("%s: defined twice", where)
	}
}

func put[T any](m map[string]T, name string, v T) (dup bool) {
	_, dup = m[name]
	m[name] = v
	return dup
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
