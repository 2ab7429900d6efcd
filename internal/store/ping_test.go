//go:build integration

package store_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

func activityOptions(name string) activity.RegisterOptions {
	return activity.RegisterOptions{Name: name}
}

// Readiness follows the database: down while the server is stopped, up again
// after it restarts, with the same pool and the data kept.
func TestPingFollowsServer(t *testing.T) {
	s := newStore(t)
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, _, err := s.CreateApplication(ctx(t), "ref-p", "loan:ref-p", "h", 1, 1, "DAY"); err != nil {
		t.Fatal(err)
	}

	testenv.StopPostgres(t)
	short, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := s.Ping(short)
	cancel()
	if err == nil {
		t.Fatal("ping succeeded with the server stopped")
	}

	testenv.RestartPostgres(t)
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if a, err := s.GetApplication(ctx(t), "ref-p"); err != nil || a.RequestHash != "h" {
		t.Fatalf("data after restart: %+v %v", a, err)
	}
}
