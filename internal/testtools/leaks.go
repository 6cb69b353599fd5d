package testtools

import (
	"runtime"
	"strings"
	"time"
)

// LeakedGoroutines waits up to d for every goroutine running drmpipe code
// (or a Redis or HTTP client connection it opened) to end, and returns the
// stacks of those still running, or "" when none is. Call it from TestMain
// after m.Run, once the package's servers and clients are closed (close
// idle HTTP client connections first).
func LeakedGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaks []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "testtools.LeakedGoroutines") || strings.Contains(g, "testing.(*M)") {
				continue
			}
			if strings.Contains(g, "drmpipe/drmpipe/internal") || strings.Contains(g, "redis/go-redis") || strings.Contains(g, "net/http.(*persistConn)") {
				leaks = append(leaks, g)
			}
		}
		if len(leaks) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaks, "\n\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
