package stack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

// Replicas: the worker and the starter can run as several processes each
// (Options.Workers, Options.Starters; the production lane runs two of
// each), as a deployment scales them. The workers share the task queue, so
// Temporal spreads the work; the starters sit behind a round-robin reverse
// proxy in this process, whose address is StarterURL, so that the
// sandbox's pushes, the demo's and the tests' requests and the Web UI's
// codec calls are spread over all of them. A load balancer does that job
// in a deployment (docs/operations.md).

// replicaName is the name of replica i (0-based) of a process: the first
// keeps the plain name, so its log stays worker.log / starter.log.
func replicaName(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(i+1)
}

func (s *Stack) replicas() (workers, starters int) {
	workers, starters = s.opts.Workers, s.opts.Starters
	def := 1
	if s.opts.Server {
		def = 2
	}
	if workers <= 0 {
		workers = def
	}
	if starters <= 0 {
		starters = def
	}
	return workers, starters
}

// replicaPorts picks the replicas' ports: the first worker has Ports.Worker;
// with one starter it has Ports.Starter, with several the proxy has it and
// every starter a free port of its own.
func (s *Stack) replicaPorts() (workerPorts, starterPorts []int, err error) {
	workers, starters := s.replicas()
	workerPorts = []int{s.ports.Worker}
	if starters == 1 {
		starterPorts = []int{s.ports.Starter}
	}
	for len(workerPorts) < workers || len(starterPorts) < starters {
		free, err := freePortNotIn(workerPorts, starterPorts, s.ports.Starter)
		if err != nil {
			return nil, nil, err
		}
		if len(workerPorts) < workers {
			workerPorts = append(workerPorts, free)
		} else {
			starterPorts = append(starterPorts, free)
		}
	}
	return workerPorts, starterPorts, nil
}

// freePortNotIn is a free port not already handed out.
func freePortNotIn(a, b []int, c int) (int, error) {
	for range 20 {
		p, err := testenv.FreePort()
		if err != nil {
			return 0, err
		}
		taken := p == c
		for _, q := range append(append([]int(nil), a...), b...) {
			taken = taken || p == q
		}
		if !taken {
			return p, nil
		}
	}
	return 0, fmt.Errorf("stack: no free port found")
}

// roundRobin is the reverse proxy in front of several starters: each
// request goes to the next starter that is running; when none is, to the
// next one anyway, and the client gets the 502 a load balancer would give.
type roundRobin struct {
	procs   []*Process
	targets []*url.URL
	next    atomic.Uint64
	srv     *http.Server
}

func newRoundRobin(procs []*Process, urls []string) (*roundRobin, error) {
	rr := &roundRobin{procs: procs}
	for _, u := range urls {
		t, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		rr.targets = append(rr.targets, t)
	}
	return rr, nil
}

func (rr *roundRobin) pick() *url.URL {
	n := uint64(len(rr.targets))
	first := rr.next.Add(1)
	for i := range n {
		j := (first + i) % n
		if rr.procs[j].Running() {
			return rr.targets[j]
		}
	}
	return rr.targets[first%n]
}

// serve starts the proxy on addr.
func (rr *roundRobin) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("stack: the starters' proxy: %w", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(rr.pick())
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "starter unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
	rr.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rr.srv.Serve(ln) }()
	return nil
}

func (rr *roundRobin) close() {
	if rr == nil || rr.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rr.srv.Shutdown(ctx); err != nil {
		_ = rr.srv.Close()
	}
}
