package stack

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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
