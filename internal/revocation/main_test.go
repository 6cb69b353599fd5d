package revocation_test

import (
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a webhook call (or any goroutine of
// drmpipe's) outlives the Service that started it.
func TestMain(m *testing.M) {
	os.Exit(testtools.LeakCheck(m.Run(), "revocation"))
}
