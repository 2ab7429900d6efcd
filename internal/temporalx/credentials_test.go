package temporalx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/temporalx"
)

// ca issues the test certificates.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var serial int64 = 100

// issue returns a certificate for cn (a server one for 127.0.0.1 when
// server) and its key, in PEM.
func (c *ca) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// replace writes b to path as a rotation does: a new file renamed over
// the old one.
func replace(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// call is what the test server saw of one call.
type call struct {
	method        string
	clientCert    string // the common name of the certificate the client presented
	authorization string
}

// tlsServer is a gRPC server that requires and verifies a client
// certificate, answers the calls a client makes to check health, and
// records every call; dropConnections closes every connection it accepted,
// as a server restart or a load balancer would.
type tlsServer struct {
	addr string

	mu    sync.Mutex
	calls []call
	conns []net.Conn
	ln    net.Listener
}

type systemInfo struct {
	workflowservice.UnimplementedWorkflowServiceServer
}

func (systemInfo) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{}, nil
}

func startTLSServer(t *testing.T, c *ca) *tlsServer {
	t.Helper()
	certPEM, keyPEM := c.issue(t, "temporal frontend", true)
	serverCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String()}
	s.ln = ln
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		})),
		grpc.UnaryInterceptor(s.record),
	)
	hs := health.NewServer()
	hs.SetServingStatus("temporal.api.workflowservice.v1.WorkflowService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	workflowservice.RegisterWorkflowServiceServer(srv, systemInfo{})
	go func() { _ = srv.Serve(trackingListener{ln, s}) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *tlsServer) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c := call{method: info.FullMethod}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
			c.clientCert = ti.State.PeerCertificates[0].Subject.CommonName
		}
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		c.authorization = md.Get("authorization")[0]
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	return handler(ctx, req)
}

// lastHealthCheck is the last health check the server answered.
func (s *tlsServer) lastHealthCheck(t *testing.T) call {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].method == healthpb.Health_Check_FullMethodName {
			return s.calls[i]
		}
	}
	t.Fatal("the server saw no health check")
	return call{}
}

func (s *tlsServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *tlsServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
}

type trackingListener struct {
	net.Listener
	s *tlsServer
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

// checkHealth calls until a call succeeds: after the server dropped the
// connection, the first call may fail while the client reconnects.
func checkHealth(t *testing.T, c client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.CheckHealth(cctx, &client.CheckHealthRequest{})
		ccancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("health check against the TLS server: %v", err)
}

// A client built by temporalx against a TLS endpoint that requires client
// certificates: the API key file and the certificate files are rotated
// while the client runs. The next call carries the new key; once the
// connection is dropped, the new handshake presents the new certificate —
// the same client, no restart.
func TestCredentialsReloadWithoutRestart(t *testing.T) {
	authority := newCA(t)
	srv := startTLSServer(t, authority)

	dir := t.TempDir()
	certFile, keyFile, caFile, apiKeyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "api-key")
	certA, keyA := authority.issue(t, "worker-2026-11", false)
	replace(t, certFile, certA)
	replace(t, keyFile, keyA)
	replace(t, caFile, authority.pem)
	replace(t, apiKeyFile, []byte("key-november\n"))

	tc, err := config.LoadTemporal(getenv(map[string]string{
		config.EnvTemporalAddress:       srv.addr,
		config.EnvTemporalTLSClientCert: certFile,
		config.EnvTemporalTLSClientKey:  keyFile,
		config.EnvTemporalTLSServerCA:   caFile,
		config.EnvTemporalAPIKeyFile:    apiKeyFile,
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &recordingLogger{}
	opts, err := temporalx.Options(tc, ring(t), logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	checkHealth(t, c)
	if got := srv.lastHealthCheck(t); got.clientCert != "worker-2026-11" || got.authorization != "Bearer key-november" {
		t.Fatalf("before the rotation the server saw %+v", got)
	}
	conns := srv.connections()

	// Rotate: a new certificate and key, a new API key.
	certB, keyB := authority.issue(t, "worker-2026-12", false)
	replace(t, certFile, certB)
	replace(t, keyFile, keyB)
	replace(t, apiKeyFile, []byte("key-december\n"))

	// The key is read at every call: the next one, on the same
	// connection, carries the new one.
	checkHealth(t, c)
	got := srv.lastHealthCheck(t)
	if got.authorization != "Bearer key-december" {
		t.Fatalf("after the key rotation the server saw authorization %q", got.authorization)
	}
	if srv.connections() != conns || got.clientCert != "worker-2026-11" {
		t.Fatalf("the client reconnected (%d connections, was %d; certificate %q): the next step would not test the reload",
			srv.connections(), conns, got.clientCert)
	}

	// The certificate is presented at a handshake: drop the connection,
	// and the client's reconnection presents the new one.
	srv.dropConnections()
	checkHealth(t, c)
	got = srv.lastHealthCheck(t)
	if srv.connections() == conns {
		t.Fatal("the client did not reconnect")
	}
	if got.clientCert != "worker-2026-12" || got.authorization != "Bearer key-december" {
		t.Fatalf("after the rotation and a reconnection the server saw %+v, want the new certificate and key", got)
	}
	if !logs.has("Reloaded client certificate") || !logs.has("Reloaded API key") {
		t.Errorf("no reload logged: %v", logs.lines())
	}
}
