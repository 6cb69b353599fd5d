package netlimit

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults when Config leaves a limit at 0.
const (
	// DefaultMaxConnsCeiling caps the derived global limit: an idle HTTP
	// connection costs a goroutine and its buffers (some 10 to 20 KiB), so
	// 65,536 of them are already about a gigabyte.
	DefaultMaxConnsCeiling = 65536
	// DefaultMaxConnsPerIP admits about 40 players behind one address
	// (a browser opens at most 6 HTTP/1.1 connections per origin, 1 with
	// HTTP/2). Proxies and CDN edges aggregating many clients belong in
	// Config.Exempt.
	DefaultMaxConnsPerIP = 256
	// fallbackFDLimit is assumed when the open-file limit cannot be read.
	fallbackFDLimit = 1024
)

// Config sets the connection limits.
type Config struct {
	// MaxConns caps the open connections. 0 = DefaultMaxConns: 80% of the
	// process's open-file limit (the rest stays for the key store, Redis,
	// vendor upstreams, KMS and the files the origin serves), at most
	// DefaultMaxConnsCeiling.
	MaxConns int
	// MaxConnsPerIP caps the open connections of one client address (an
	// IPv6 client by its /64). 0 = DefaultMaxConnsPerIP, at most a quarter
	// of MaxConns, so that one address never holds more than a quarter of
	// the server.
	MaxConnsPerIP int
	// Exempt lists peers not subject to MaxConnsPerIP: load balancers and
	// reverse proxies, whose one address carries many clients. They still
	// count towards MaxConns.
	Exempt []netip.Prefix
	// Reply503, for plain-HTTP listeners, writes a minimal "HTTP/1.1 503"
	// with Retry-After before closing a refused connection (best effort;
	// never for TLS listeners, whose clients expect a handshake).
	Reply503 bool
	// ShedPercent is the share of MaxConns (1..100) above which each new
	// connection closes the longest-idle one. 0 = 90.
	ShedPercent int
	// SilentAfter is how long a new connection may stay silent (no
	// request) before it may be shed like an idle one. 0 = 1s: ample for a
	// TCP and TLS handshake and the first request, well within the server's
	// read-header timeout.
	SilentAfter time.Duration
}

// DefaultMaxConns is 80% of the process's soft open-file limit
// (RLIMIT_NOFILE), at most DefaultMaxConnsCeiling. On Linux the Go runtime
// has already raised the soft limit to the hard limit at start (Go 1.19
// and later), so the figure is what the process may really open.
func DefaultMaxConns() int {
	n := fdLimit()
	if n <= 0 {
		n = fallbackFDLimit
	}
	return min(n/5*4, DefaultMaxConnsCeiling)
}

// resolved fills the zero limits and checks the result.
func (c Config) resolved() (Config, error) {
	if c.MaxConns < 0 || c.MaxConnsPerIP < 0 {
		return c, fmt.Errorf("%w: limits must not be negative (max %d, per address %d)", ErrConfig, c.MaxConns, c.MaxConnsPerIP)
	}
	if c.ShedPercent < 0 || c.ShedPercent > 100 {
		return c, fmt.Errorf("%w: shed percent %d is not within 1..100", ErrConfig, c.ShedPercent)
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns()
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = max(1, min(DefaultMaxConnsPerIP, c.MaxConns/4))
	}
	if c.MaxConnsPerIP > c.MaxConns {
		return c, fmt.Errorf("%w: per-address limit %d exceeds the global limit %d", ErrConfig, c.MaxConnsPerIP, c.MaxConns)
	}
	if c.ShedPercent == 0 {
		c.ShedPercent = 90
	}
	if c.SilentAfter <= 0 {
		c.SilentAfter = time.Second
	}
	return c, nil
}
