package inbox_test

import (
	"os"
	"testing"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }
