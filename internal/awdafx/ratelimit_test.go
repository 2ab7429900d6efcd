package awdafx_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
)

type countingLimiter struct {
	mu    sync.Mutex
	waits map[awda.RateClass]int
}

func (l *countingLimiter) Wait(_ context.Context, c awda.RateClass) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits[c]++
	return nil
}

func (l *countingLimiter) Busy(context.Context, awda.RateClass) {}

// The limiter the application provides is the one the client asks before
// every attempt.
func TestClientUsesTheProvidedLimiter(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{AppID: appID, HMACSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	lim := &countingLimiter{waits: map[awda.RateClass]int{}}
	var c *awda.Client
	app := fxtest.New(t,
		fx.Supply(&config.Config{AWDA: config.AWDA{BaseURL: srv.URL, AppID: appID, HMACSecret: secret, HTTPTimeout: 5 * time.Second}}, zerolog.Nop()),
		metrics.Module,
		awdafx.Module,
		fx.Provide(func() awda.Limiter { return lim }),
		fx.Populate(&c),
	)
	app.RequireStart()
	defer app.RequireStop()
	for range 2 {
		if _, err := c.BankList(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.LoanInfo(context.Background(), &awda.LoanInfoRequest{LoanNo: "L-none"}); !awda.IsNotFound(err) {
		t.Fatalf("LoanInfo of an unknown loan: %v", err)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.waits[awda.RateRead] != 3 || len(lim.waits) != 1 {
		t.Errorf("limiter asked %v, want 3 reads", lim.waits)
	}
}
