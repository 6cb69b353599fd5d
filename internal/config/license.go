package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
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
	// license server its challenges are forwarded to. ClearKey licenses
	// are issued by drmpipe itself and take no upstream.
	Upstreams map[string]UpstreamConfig `koanf:"upstreams" yaml:"upstreams"`
}

// RateLimitConfig is a token bucket per client IP and per user; a rate of
// 0 turns that limit off.
type RateLimitConfig struct {
	PerIP        float64 `koanf:"per_ip" yaml:"per_ip"` // requests per second
	PerIPBurst   int     `koanf:"per_ip_burst" yaml:"per_ip_burst"`
	PerUser      float64 `koanf:"per_user" yaml:"per_user"` // requests per second
	PerUserBurst int     `koanf:"per_user_burst" yaml:"per_user_burst"`
}

// VendorType selects the upstream adapter (one per vendor request style).
type VendorType string

// Upstream adapters.
const (
	VendorPassthrough VendorType = "passthrough" // forward as is, adding credentials.headers / credentials.query
	VendorAxinom      VendorType = "axinom"      // mint the X-AxDRM-Message entitlement JWT
	VendorDRMtoday    VendorType = "drmtoday"    // castlabs: x-dt-custom-data / upfront auth token
	VendorEZDRM       VendorType = "ezdrm"       // query parameters
	VendorWidevine    VendorType = "widevine"    // Widevine direct: signed proxy request
)

// ParseVendorType parses an adapter name.
func ParseVendorType(s string) (VendorType, error) {
	switch v := VendorType(strings.ToLower(s)); v {
	case VendorPassthrough, VendorAxinom, VendorDRMtoday, VendorEZDRM, VendorWidevine:
		return v, nil
	}
	return "", fmt.Errorf("%q (want passthrough, axinom, drmtoday, ezdrm or widevine)", s)
}

// UpstreamConfig is one vendor license server and how to call it.
type UpstreamConfig struct {
	// Type is the adapter.
	Type VendorType `koanf:"type" yaml:"type"`
	// URL is the vendor's license endpoint.
	URL string `koanf:"url" yaml:"url"`
	// SecondaryURL is tried when the primary fails or its breaker is open
	// (another region or vendor with the same adapter); optional.
	SecondaryURL string `koanf:"secondary_url" yaml:"secondary_url"`
	// Timeout bounds one upstream call; 0 = 2s.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// Retries is the number of retries (exponential backoff with jitter)
	// of a failed call where the adapter knows it is safe; 0 = none.
	Retries int `koanf:"retries" yaml:"retries"`
	// Breaker is the circuit breaker in front of each upstream URL.
	Breaker BreakerConfig `koanf:"breaker" yaml:"breaker"`
	// CertificateFile is the FairPlay application certificate (DER or PEM)
	// served at GET /license/fairplay/certificate.
	CertificateFile string `koanf:"certificate_file" yaml:"certificate_file"`
	// Credentials authenticate drmpipe to the vendor.
	Credentials VendorCredentials `koanf:"credentials" yaml:"credentials"`
}

// BreakerConfig: the breaker opens after FailureThreshold consecutive
// failures, stays open for OpenFor, then lets probes through and closes
// after SuccessThreshold successes. Zero values take the defaults.
type BreakerConfig struct {
	FailureThreshold int           `koanf:"failure_threshold" yaml:"failure_threshold"` // 0 = 5
	SuccessThreshold int           `koanf:"success_threshold" yaml:"success_threshold"` // 0 = 2
	OpenFor          time.Duration `koanf:"open_for" yaml:"open_for"`                   // 0 = 30s
}

// VendorCredentials hold what each adapter needs; unused fields stay
// empty. Key, IV, Password, Token and the values of Headers and Query are
// secrets.
type VendorCredentials struct {
	// Provider is the Widevine provider name, DRMtoday merchant or EZDRM
	// account identifier.
	Provider string `koanf:"provider" yaml:"provider"`
	// KeyID is the Axinom communication key ID.
	KeyID string `koanf:"key_id" yaml:"key_id"`
	// Key is the Axinom communication key (base64) or the Widevine signing
	// key (hex, 32 bytes).
	Key string `koanf:"key" yaml:"key" secret:"true"`
	// IV is the Widevine signing IV (hex, 16 bytes).
	IV string `koanf:"iv" yaml:"iv" secret:"true"`
	// Username and Password for vendors using basic credentials.
	Username string `koanf:"username" yaml:"username"`
	Password string `koanf:"password" yaml:"password" secret:"true"`
	// Token is an API or upfront authorization token.
	Token string `koanf:"token" yaml:"token" secret:"true"`
	// Headers are added to every upstream request (passthrough).
	Headers map[string]string `koanf:"headers" yaml:"headers" secret:"values"`
	// Query parameters are added to every upstream URL (passthrough, EZDRM).
	Query map[string]string `koanf:"query" yaml:"query" secret:"values"`
}

func defaultLicense() LicenseConfig {
	return LicenseConfig{
		CORSOrigins: []string{},
		RateLimit:   RateLimitConfig{PerIP: 50, PerIPBurst: 100, PerUser: 10, PerUserBurst: 20},
		CacheTTL:    5 * time.Minute,
		Upstreams:   map[string]UpstreamConfig{},
	}
}

// Upstream defaults applied by resolve.
const (
	defaultUpstreamTimeout  = 2 * time.Second
	defaultFailureThreshold = 5
	defaultSuccessThreshold = 2
	defaultOpenFor          = 30 * time.Second
)

// defaultUpstream is what an upstream's unset fields resolve to.
func defaultUpstream() UpstreamConfig {
	return UpstreamConfig{
		Timeout: defaultUpstreamTimeout,
		Breaker: BreakerConfig{FailureThreshold: defaultFailureThreshold, SuccessThreshold: defaultSuccessThreshold, OpenFor: defaultOpenFor},
	}
}

func (c *LicenseConfig) resolve() {
	d := defaultUpstream()
	for name, u := range c.Upstreams {
		if u.Timeout == 0 {
			u.Timeout = d.Timeout
		}
		if u.Breaker.FailureThreshold == 0 {
			u.Breaker.FailureThreshold = d.Breaker.FailureThreshold
		}
		if u.Breaker.SuccessThreshold == 0 {
			u.Breaker.SuccessThreshold = d.Breaker.SuccessThreshold
		}
		if u.Breaker.OpenFor == 0 {
			u.Breaker.OpenFor = d.Breaker.OpenFor
		}
		c.Upstreams[name] = u
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
		c.Upstreams[n].validate(&errs, n)
	}
	return errs.err()
}

func (u UpstreamConfig) validate(errs *errList, name string) {
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
	vt, err := ParseVendorType(string(u.Type))
	if err != nil {
		errs.add(p+".type", "%v", err)
	}
	if u.URL == "" {
		errs.add(p+".url", "is required")
	} else {
		checkURL(errs, p+".url", u.URL, false)
	}
	if u.SecondaryURL != "" {
		checkURL(errs, p+".secondary_url", u.SecondaryURL, false)
	}
	checkDuration(errs, p+".timeout", u.Timeout, 10*time.Millisecond, time.Minute)
	if u.Retries < 0 || u.Retries > 5 {
		errs.add(p+".retries", "must be between 0 and 5 (got %d)", u.Retries)
	}
	if u.Breaker.FailureThreshold < 1 || u.Breaker.SuccessThreshold < 1 {
		errs.add(p+".breaker", "thresholds must be at least 1")
	}
	checkDuration(errs, p+".breaker.open_for", u.Breaker.OpenFor, time.Second, time.Hour)
	if sys == drm.FairPlay && u.CertificateFile == "" {
		errs.add(p+".certificate_file", "is required for fairplay (the FPS application certificate served at /license/fairplay/certificate)")
	}
	cr := u.Credentials
	switch vt {
	case VendorAxinom:
		if cr.KeyID == "" || cr.Key == "" {
			errs.add(p+".credentials", "axinom needs key_id and key (the communication key)")
		}
	case VendorDRMtoday:
		if cr.Provider == "" {
			errs.add(p+".credentials.provider", "drmtoday needs the merchant as provider")
		}
	case VendorWidevine:
		if sys != drm.Widevine {
			errs.add(p+".type", "the widevine adapter only serves the widevine DRM")
		}
		if cr.Provider == "" {
			errs.add(p+".credentials.provider", "widevine needs the provider name")
		}
		if k := decodeHex(cr.Key); len(k) != 32 {
			errs.add(p+".credentials.key", "widevine signing key must be 64 hex digits (32 bytes)")
		}
		if iv := decodeHex(cr.IV); len(iv) != 16 {
			errs.add(p+".credentials.iv", "widevine signing IV must be 32 hex digits (16 bytes)")
		}
	}
}

func decodeHex(s string) []byte {
	b := decodeKey(s)
	if len(s) != 2*len(b) {
		return nil // not hex
	}
	return b
}
