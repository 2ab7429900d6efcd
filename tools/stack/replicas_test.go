package stack

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

// The starters' proxy sends requests to the replicas in turn, and only to
// those whose process runs.
func TestRoundRobinSpreadsAndSkipsDeadReplicas(t *testing.T) {
	var procs []*Process
	var urls []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.Host)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
		p := &Process{Name: name, Path: "/bin/sleep", Args: []string{"60"}, LogPath: t.TempDir() + "/log"}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Kill() })
		procs = append(procs, p)
	}
	rr, err := newRoundRobin(procs, urls)
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	front := loopback(port)
	if err := rr.serve(front); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rr.close)

	count := func(n int) map[string]int {
		got := map[string]int{}
		hc := &http.Client{Timeout: 5 * time.Second}
		for range n {
			resp, err := hc.Get("http://" + front + "/x")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[string(b)]++
		}
		return got
	}
	// The Host header is the proxy's, as the starter would see a load
	// balancer's.
	if got := count(10); got["a "+front] != 5 || got["b "+front] != 5 {
		t.Fatalf("10 requests over two replicas: %v, want 5 each", got)
	}
	if err := procs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if got := count(6); got["b "+front] != 6 {
		t.Fatalf("with replica a down: %v, want all 6 on b", got)
	}
}

// A replica that runs and looked ready but refuses connections (killed
// and restarting, not listening yet) costs no request: the proxy tries the
// next, body and all; and a replica whose webhook readiness fails gets no
// push, though it still gets the API requests its API readiness admits.
func TestRoundRobinRetriesRefusedAndRoutesByReadiness(t *testing.T) {
	var procs []*Process
	var urls []string
	for _, name := range []string{"a", "b", "c"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, name+" "+string(b))
		}))
		urls = append(urls, srv.URL)
		if name == "a" {
			srv.Close() // refuses connections from now on
		} else {
			t.Cleanup(srv.Close)
		}
		p := &Process{Name: name, Path: "/bin/sleep", Args: []string{"60"}, LogPath: t.TempDir() + "/log"}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Kill() })
		procs = append(procs, p)
	}
	rr, err := newRoundRobin(procs, urls)
	if err != nil {
		t.Fatal(err)
	}
	// As the last probes left them (no prober runs here): a looked ready
	// for everything before it went away, b is, c is for the API only.
	for i, r := range [][2]bool{{true, true}, {true, true}, {false, true}} {
		rr.ready[i][classWebhooks].Store(r[0])
		rr.ready[i][classAPI].Store(r[1])
	}
	front := httptest.NewServer(rr.handler())
	t.Cleanup(front.Close)

	post := func(path, body string) string {
		t.Helper()
		resp, err := http.Post(front.URL+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	got := map[string]int{}
	for i := range 12 {
		body := "push-" + strconv.Itoa(i)
		out := post("/webhooks/awda/loan-status", body)
		if !strings.HasSuffix(out, " "+body) {
			t.Fatalf("push %d answered %q: the body did not arrive whole", i, out)
		}
		got[out[:1]]++
	}
	for range 12 {
		got["api "+post("/v1/x", "q")[:1]]++
	}
	if got["b"] != 12 || got["api b"]+got["api c"] != 12 || got["api c"] == 0 {
		t.Fatalf("answers by replica %v: want every push on b, the API on b and c", got)
	}
	if rr.Retried.Load() == 0 {
		t.Error("no request was retried: a was never picked")
	}
}
