package admin

import (
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a revocation service a test started
// leaves a goroutine running.
func TestMain(m *testing.M) { os.Exit(testtools.LeakCheck(m.Run(), "admin")) }
