package server

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a test leaves a goroutine of drmpipe's
// (or a Redis or HTTP client connection) running after its server closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultClient.CloseIdleConnections()
		if leaks := testtools.LeakedGoroutines(5 * time.Second); leaks != "" {
			fmt.Fprintf(os.Stderr, "server: goroutines left running after the tests:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}
