package license

import (
	"fmt"
	"net/url"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Defaults of Config.
const (
	DefaultPerIP         = 50
	DefaultPerIPBurst    = 100
	DefaultPerUser       = 10
	DefaultPerUserBurst  = 20
	DefaultRateLimitKeys = 100000
	DefaultCacheTTL      = 5 * time.Minute
)

// Config is the license endpoints' own part of the license section of
// the configuration file: browser origins, rate limits and the license
// cache (the vendor upstreams are license/upstream's Config, the purge
// webhooks the revocation service's).
type Config struct {
	// CORSOrigins are the origins allowed to call license endpoints from a
	// browser; each is echoed back, never "*".
	CORSOrigins []string `koanf:"cors_origins" yaml:"cors_origins"`
	// RateLimit bounds requests per client IP and per user.
	RateLimit RateLimits `koanf:"rate_limit" yaml:"rate_limit"`
	// CacheTTL caps how long an issued license is replayed for a retried
	// request (the token's own expiry caps it further). 0 disables the cache.
	CacheTTL time.Duration `koanf:"cache_ttl" yaml:"cache_ttl"`
}

// RateLimits is a token bucket per client IP and per user (NewLimiter); a
// rate of 0 turns that limit off.
type RateLimits struct {
	PerIP        float64 `koanf:"per_ip" yaml:"per_ip"` // requests per second
	PerIPBurst   int     `koanf:"per_ip_burst" yaml:"per_ip_burst"`
	PerUser      float64 `koanf:"per_user" yaml:"per_user"` // requests per second
	PerUserBurst int     `koanf:"per_user_burst" yaml:"per_user_burst"`
	// MaxKeys bounds the buckets tracked per kind; beyond it the buckets
	// closest to refilled are forgotten first.
	MaxKeys int `koanf:"max_keys" yaml:"max_keys"`
}

// DefaultConfig is the built-in configuration.
func DefaultConfig() Config {
	return Config{
		CORSOrigins: []string{},
		RateLimit: RateLimits{PerIP: DefaultPerIP, PerIPBurst: DefaultPerIPBurst, PerUser: DefaultPerUser,
			PerUserBurst: DefaultPerUserBurst, MaxKeys: DefaultRateLimitKeys},
		CacheTTL: DefaultCacheTTL,
	}
}

// Validate checks the origins, limits and cache lifetime, each problem
// under prefix + "." + its key (prefix is "license").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	for i, o := range c.CORSOrigins {
		k := fmt.Sprintf("%s[%d]", key("cors_origins"), i)
		if o == "*" {
			errs.Add(k, `"*" is not allowed; list each origin`)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs.Add(k, "%q is not an origin (scheme://host[:port])", o)
		}
	}
	rl := c.RateLimit
	if rl.PerIP < 0 || rl.PerUser < 0 || rl.PerIPBurst < 0 || rl.PerUserBurst < 0 {
		errs.Add(key("rate_limit"), "rates and bursts must not be negative")
	}
	if rl.PerIP > 0 && rl.PerIPBurst < 1 {
		errs.Add(key("rate_limit.per_ip_burst"), "must be at least 1 when per_ip is set")
	}
	if rl.PerUser > 0 && rl.PerUserBurst < 1 {
		errs.Add(key("rate_limit.per_user_burst"), "must be at least 1 when per_user is set")
	}
	if rl.MaxKeys < 1 || rl.MaxKeys > 10_000_000 {
		errs.Add(key("rate_limit.max_keys"), "must be between 1 and 10000000 (got %d)", rl.MaxKeys)
	}
	errs.Duration(key("cache_ttl"), c.CacheTTL, 0, 24*time.Hour)
	return errs.Err()
}
