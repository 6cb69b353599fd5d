package config

import (
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// LicenseConfig is the license service (package license).
type LicenseConfig struct {
	// CORSOrigins are the origins allowed to call license endpoints from a
	// browser; each is echoed back, never "*".
	CORSOrigins []string `koanf:"cors_origins" yaml:"cors_origins"`
	// RateLimit bounds requests per client IP and per user.
	RateLimit RateLimitConfig `koanf:"rate_limit" yaml:"rate_limit"`
	// CacheTTL caps how long an issued license is replayed for a retried
	// request (the token's own expiry caps it further). 0 disables the cache.
	CacheTTL time.Duration `koanf:"cache_ttl" yaml:"cache_ttl"`
	// PurgeWebhooks are URLs POSTed (JSON {event, kind, value, at}) after
	// every revocation so a CDN can purge affected content.
	PurgeWebhooks []string `koanf:"purge_webhooks" yaml:"purge_webhooks"`
	// Upstreams maps a DRM (widevine, playready, fairplay) to the vendor
	// license server its challenges are forwarded to (package
	// license/upstream owns the type, its defaults and its checks).
	// ClearKey licenses are issued by drmpipe itself and take no upstream.
	Upstreams map[string]upstream.Config `koanf:"upstreams" yaml:"upstreams"`
	// LookAhead is how many following key periods a ClearKey license for
	// rotated content also carries, while the token is valid past their
	// start (entitlement.Config.LookAhead); 0 turns look-ahead off.
	LookAhead int `koanf:"look_ahead" yaml:"look_ahead"`
}

// RateLimitConfig is a token bucket per client IP and per user; a rate of
// 0 turns that limit off.
type RateLimitConfig struct {
	PerIP        float64 `koanf:"per_ip" yaml:"per_ip"` // requests per second
	PerIPBurst   int     `koanf:"per_ip_burst" yaml:"per_ip_burst"`
	PerUser      float64 `koanf:"per_user" yaml:"per_user"` // requests per second
	PerUserBurst int     `koanf:"per_user_burst" yaml:"per_user_burst"`
}

func defaultLicense() LicenseConfig {
	return LicenseConfig{
		CORSOrigins: []string{},
		RateLimit:   RateLimitConfig{PerIP: 50, PerIPBurst: 100, PerUser: 10, PerUserBurst: 20},
		CacheTTL:    5 * time.Minute,
		Upstreams:   map[string]upstream.Config{},
		LookAhead:   entitlement.DefaultLookAhead,
	}
}

// resolve fills each upstream's zero values with the upstream package's
// defaults, so that config check prints the effective values.
func (c *LicenseConfig) resolve() {
	for name, u := range c.Upstreams {
		c.Upstreams[name] = u.WithDefaults()
	}
}

// Validate checks CORS origins, limits and every upstream.
func (c LicenseConfig) Validate() error {
	var errs errList
	for i, o := range c.CORSOrigins {
		key := fmt.Sprintf("license.cors_origins[%d]", i)
		if o == "*" {
			errs.add(key, `"*" is not allowed; list each origin`)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs.add(key, "%q is not an origin (scheme://host[:port])", o)
		}
	}
	if c.LookAhead < 0 || c.LookAhead > entitlement.MaxLookAhead {
		errs.add("license.look_ahead", "%d key periods: want 0 (off) to %d", c.LookAhead, entitlement.MaxLookAhead)
	}
	rl := c.RateLimit
	if rl.PerIP < 0 || rl.PerUser < 0 || rl.PerIPBurst < 0 || rl.PerUserBurst < 0 {
		errs.add("license.rate_limit", "rates and bursts must not be negative")
	}
	if rl.PerIP > 0 && rl.PerIPBurst < 1 {
		errs.add("license.rate_limit.per_ip_burst", "must be at least 1 when per_ip is set")
	}
	if rl.PerUser > 0 && rl.PerUserBurst < 1 {
		errs.add("license.rate_limit.per_user_burst", "must be at least 1 when per_user is set")
	}
	checkDuration(&errs, "license.cache_ttl", c.CacheTTL, 0, 24*time.Hour)
	names := make([]string, 0, len(c.Upstreams))
	for n := range c.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		validateUpstream(&errs, n, c.Upstreams[n])
	}
	return errs.err()
}

func validateUpstream(errs *errList, name string, u upstream.Config) {
	p := "license.upstreams." + name
	sys, err := drm.ParseSystem(name)
	switch {
	case err != nil:
		errs.add(p, "unknown DRM %q (want widevine, playready or fairplay)", name)
		return
	case sys == drm.ClearKey:
		errs.add(p, "ClearKey licenses are issued by drmpipe itself; remove this upstream")
		return
	}
	errs.domain(u.ValidateFor(sys, p))
}
