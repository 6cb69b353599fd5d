package revocation_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a webhook call (or any goroutine of
// drmpipe's) outlives the Service that started it.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := testtools.LeakedGoroutines(5 * time.Second); leaks != "" {
			fmt.Fprintf(os.Stderr, "revocation: goroutines left running after the tests:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}
