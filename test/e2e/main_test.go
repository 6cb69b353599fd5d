// Package e2e runs `drmpipe serve` in-process, exactly as the serve command
// composes it (server.NewApp, then Server.Run on 127.0.0.1:0), against real
// stores (SQLite, PostgreSQL), a real redis-server, vendor license doubles,
// the drmpipe CLI (cli.Main in-process) and ffmpeg, and checks the request
// chains the server issues promise end to end: SPEKE key provision and
// packaging (issue 3), ClearKey licenses, the vendor gateway, entitlement and
// revocation (issue 4), tracing, metrics, readiness, graceful shutdown,
// masked configuration and secret-free logs (issue 6).
//
// Every server started here records its logs; when a test ends, those logs,
// the CLI output and the key database are scanned for every content key,
// playback token, API key and vendor credential the test saw (see
// secrets_test.go). After all tests, no goroutine of drmpipe's may be left.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestMain(m *testing.M) {
	code := testtools.RunCleaningClips(m)
	if code == 0 {
		httpClient.CloseIdleConnections()
		if leaks := testtools.LeakedGoroutines(5 * time.Second); leaks != "" {
			fmt.Fprintf(os.Stderr, "e2e: goroutines left running after every server was closed:\n%s\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}
