//go:build unix

package netlimit

import (
	"math"
	"syscall"
)

// fdLimit is the soft RLIMIT_NOFILE, or 0 when unknown.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32 // RLIM_INFINITY: the ceiling applies
	}
	return int(rl.Cur)
}
