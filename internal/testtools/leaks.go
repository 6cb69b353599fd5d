package testtools

import (
	"fmt"
	"os"
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

// LeakCheck is the end of a TestMain: it returns code, or 1 when the tests
// passed but a goroutine LeakedGoroutines watches is still running 5 s
// later (its stacks go to stderr under pkg's name).
func LeakCheck(code int, pkg string) int {
	if code != 0 {
		return code
	}
	if leaks := LeakedGoroutines(5 * time.Second); leaks != "" {
		fmt.Fprintf(os.Stderr, "%s: goroutines left running after the tests:\n%s\n", pkg, leaks)
		return 1
	}
	return 0
}
