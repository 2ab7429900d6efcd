package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/ok", true},
		{"/down", false},
		{"/moved", false}, // a redirect is not healthy: the probe names the exact endpoint
		{"/slow", false},
		{"/missing", false},
	} {
		err := probe(srv.URL+tc.path, 200*time.Millisecond)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
	if err := probe("http://127.0.0.1:1/readyz", time.Second); err == nil {
		t.Error("a closed port is healthy")
	}
}
