package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/awdaflow/awdaflow/internal/api"
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

// roundRobin is the reverse proxy in front of several starters, which does
// what a load balancer does for them in a deployment: it routes each
// request to the next starter that is running and ready for it (AWDA's
// pushes: /readyz/webhooks, which needs PostgreSQL only; everything else:
// /readyz/api, which needs Temporal too), probed every probeEvery; when
// none is ready, to one that runs (whose own answer, a 503, tells the
// client to retry); and when a starter refuses the connection (killed, or
// restarting and not listening yet) it tries the next, as nginx's
// proxy_next_upstream does: no byte of the request has left then, so a
// retry is safe for any method. A starter that dies with a request in
// flight costs that request a 502, which the client retries (the sandbox
// redelivers a push, the demo client repeats a call).
type roundRobin struct {
	procs   []*Process
	targets []*url.URL
	// ready[i][class] is starter i's last readiness probe for a class of
	// requests (classWebhooks, classAPI).
	ready [][2]atomic.Bool
	next  atomic.Uint64
	srv   *http.Server
	stop  chan struct{}
	// Retried counts the requests sent to another starter after one
	// refused the connection.
	Retried atomic.Int64
}

// Request classes, by the readiness path that admits them.
const (
	classWebhooks = iota
	classAPI
)

var readyPaths = [2]string{classWebhooks: api.PathReadyWebhooks, classAPI: api.PathReadyAPI}

const probeEvery = 250 * time.Millisecond

func newRoundRobin(procs []*Process, urls []string) (*roundRobin, error) {
	rr := &roundRobin{procs: procs, ready: make([][2]atomic.Bool, len(procs)), stop: make(chan struct{})}
	for _, u := range urls {
		t, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		rr.targets = append(rr.targets, t)
	}
	return rr, nil
}

func classOf(r *http.Request) int {
	if strings.HasPrefix(r.URL.Path, "/webhooks/") {
		return classWebhooks
	}
	return classAPI
}

// pick is the next starter for a request of class, skipping those in
// tried: the next running and ready one, else the next running one, else
// the next one (-1 when every one was tried).
func (rr *roundRobin) pick(class int, tried []int) int {
	n := uint64(len(rr.targets))
	first := rr.next.Add(1)
	fallback, last := -1, -1
	for i := range n {
		j := int((first + i) % n)
		if slices.Contains(tried, j) {
			continue
		}
		if last < 0 {
			last = j
		}
		if !rr.procs[j].Running() {
			continue
		}
		if rr.ready[j][class].Load() {
			return j
		}
		if fallback < 0 {
			fallback = j
		}
	}
	if fallback >= 0 {
		return fallback
	}
	return last
}

// probe keeps ready up to date until the proxy closes.
func (rr *roundRobin) probe(hc *http.Client) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-rr.stop:
			return
		case <-t.C:
		}
		rr.probeOnce(hc)
	}
}

func (rr *roundRobin) probeOnce(hc *http.Client) {
	for i, target := range rr.targets {
		for class, path := range readyPaths {
			ok := false
			if rr.procs[i].Running() {
				if resp, err := hc.Get(target.String() + path); err == nil {
					resp.Body.Close()
					ok = resp.StatusCode == http.StatusOK
				}
			}
			rr.ready[i][class].Store(ok)
		}
	}
}

// pickedKey carries the starter Rewrite chose to RoundTrip.
type pickedKey struct{}

// RoundTrip sends the request to the starter Rewrite picked and, while a
// starter refuses the connection, to the next one.
func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	j, _ := req.Context().Value(pickedKey{}).(*int)
	if j == nil {
		return nil, errors.New("stack: the starters' proxy picked no starter")
	}
	body := &unclosedBody{r: req.Body}
	if req.Body != nil {
		req.Body = body
	}
	tried := []int{*j}
	for {
		resp, err := http.DefaultTransport.RoundTrip(req)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" || body.read {
			if req.Body != nil && err != nil {
				_ = body.r.Close()
			}
			return resp, err
		}
		next := rr.pick(classOf(req), tried)
		if next < 0 {
			return nil, err
		}
		tried = append(tried, next)
		rr.Retried.Add(1)
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = rr.targets[next].Scheme, rr.targets[next].Host
		out.Body = req.Body
		req = out
	}
}

// unclosedBody lets a request body outlive a transport's failed attempt
// (which closes it) and tells whether any of it was read.
type unclosedBody struct {
	r    io.ReadCloser
	read bool
}

func (b *unclosedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.read = true
	}
	return n, err
}

func (b *unclosedBody) Close() error { return nil }

// serve starts the proxy on addr, probing the starters' readiness.
func (rr *roundRobin) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("stack: the starters' proxy: %w", err)
	}
	hc := &http.Client{Timeout: time.Second}
	rr.probeOnce(hc)
	go rr.probe(hc)
	rr.srv = &http.Server{Handler: rr.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rr.srv.Serve(ln) }()
	return nil
}

// handler is the reverse proxy itself.
func (rr *roundRobin) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			j := rr.pick(classOf(r.In), nil)
			r.SetURL(rr.targets[j])
			r.Out = r.Out.WithContext(context.WithValue(r.Out.Context(), pickedKey{}, &j))
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport: rr,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "starter unavailable: "+err.Error(), http.StatusBadGateway)
		},
	}
}

func (rr *roundRobin) close() {
	if rr == nil || rr.srv == nil {
		return
	}
	close(rr.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rr.srv.Shutdown(ctx); err != nil {
		_ = rr.srv.Close()
	}
}
