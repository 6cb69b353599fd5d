//go:build !unix

package netlimit

// fdLimit is unknown outside Unix.
func fdLimit() int { return 0 }
