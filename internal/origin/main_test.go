package origin

import (
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a request a test sent (a handler held on
// a FIFO, say) is still running after its server closed.
func TestMain(m *testing.M) { os.Exit(testtools.LeakCheck(m.Run(), "origin")) }
