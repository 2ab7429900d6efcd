//go:build integration

package e2e

import (
	"os"
	"testing"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.RunMain(m)
	removeBinaries()
	os.Exit(code)
}
