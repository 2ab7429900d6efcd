package temporalx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// reloading holds a value parsed from files and parses them again when one
// of them changes: another size, modification time or file (a Kubernetes
// Secret volume swaps a symlink; a rotation script renames a new file into
// place). Each get stats the files, which costs far less than the call it
// serves; there is no watcher goroutine to stop. When the new contents do
// not parse (the certificate written, its key not yet), the last good
// value stays in use and the files are tried again at the next get.
type reloading[T any] struct {
	what   string // for log lines: "client certificate", "API key"
	paths  []string
	parse  func(contents [][]byte) (T, error)
	logger log.Logger // may be nil

	mu      sync.Mutex
	stamps  []os.FileInfo // of the files the value was parsed from
	value   T
	loaded  bool
	lastErr string // the last failure logged, so that one is logged once
}

func newReloading[T any](what string, logger log.Logger, parse func([][]byte) (T, error), paths ...string) (*reloading[T], error) {
	r := &reloading[T]{what: what, paths: paths, parse: parse, logger: logger}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// get returns the current value.
func (r *reloading[T]) get() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps, err := statAll(r.paths)
	if err == nil && r.loaded && sameFiles(stamps, r.stamps) {
		return r.value, nil
	}
	if err == nil {
		var v T
		if v, err = r.read(); err == nil {
			if r.loaded && r.logger != nil {
				r.logger.Info("Reloaded "+r.what, "files", strings.Join(r.paths, ","))
			}
			r.value, r.stamps, r.loaded, r.lastErr = v, stamps, true, ""
			return v, nil
		}
	}
	if !r.loaded {
		var zero T
		return zero, err
	}
	if r.logger != nil && err.Error() != r.lastErr {
		r.logger.Warn("Keeping the previous "+r.what+": its files do not load", "files", strings.Join(r.paths, ","), "error", err)
	}
	r.lastErr = err.Error()
	return r.value, nil
}

func (r *reloading[T]) read() (T, error) {
	contents := make([][]byte, len(r.paths))
	for i, p := range r.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			var zero T
			return zero, err
		}
		contents[i] = b
	}
	return r.parse(contents)
}

func statAll(paths []string) ([]os.FileInfo, error) {
	out := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out[i] = fi
	}
	return out, nil
}

func sameFiles(a, b []os.FileInfo) bool {
	for i := range a {
		if !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()) {
			return false
		}
	}
	return true
}

// ReloadingClientCertificate returns a tls.Config.GetClientCertificate that
// presents the key pair in certFile and keyFile as they are at each
// handshake: a rotated certificate is presented from the next connection
// on, without a restart. Connections already open keep the certificate
// they were made with until they close. It fails when the files do not
// hold a key pair now.
func ReloadingClientCertificate(certFile, keyFile string, logger log.Logger) (func(*tls.CertificateRequestInfo) (*tls.Certificate, error), error) {
	r, err := newReloading("client certificate", logger, func(c [][]byte) (*tls.Certificate, error) {
		cert, err := tls.X509KeyPair(c[0], c[1])
		return &cert, err
	}, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.get() }, nil
}

// ReloadingAPIKey returns credentials that send the API key in file (white
// space trimmed) with every call, read again whenever the file changes. It
// fails when the file holds no key now.
func ReloadingAPIKey(file string, logger log.Logger) (client.Credentials, error) {
	r, err := newReloading("API key", logger, func(c [][]byte) (string, error) {
		key := strings.TrimSpace(string(c[0]))
		if key == "" {
			return "", errors.New("the file is empty")
		}
		return key, nil
	}, file)
	if err != nil {
		return nil, fmt.Errorf("reading the API key: %w", err)
	}
	return client.NewAPIKeyDynamicCredentials(func(context.Context) (string, error) { return r.get() }), nil
}
