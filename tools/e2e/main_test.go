//go:build integration

package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "awdaflow-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := testenv.RunMain(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
