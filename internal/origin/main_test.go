package origin

import (
	"net/http"
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain fails the package when a test leaves a goroutine of drmpipe's
// (or an HTTP client connection) running after it ended.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	os.Exit(testtools.LeakCheck(code, "origin"))
}
