package delivery

import (
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// BrokerConfig is the strict broker's part of the keys section of the
// configuration.
type BrokerConfig struct {
	// BrokerHMACKey signs the expiring, content-scoped URLs through which
	// packaging workers fetch a job's keys (strict-broker delivery): 32 or
	// more bytes, hex or base64 (ParseBrokerKey). Empty disables the
	// broker. Secret.
	BrokerHMACKey string `koanf:"broker_hmac_key" yaml:"broker_hmac_key" secret:"true"`
	// BrokerURLTTL is how long a broker URL stays valid (at most).
	BrokerURLTTL time.Duration `koanf:"broker_url_ttl" yaml:"broker_url_ttl"`
	// BrokerRateLimit is the requests per second one client IP may send to
	// the broker endpoint (token bucket, IPv6 by /64), checked before the
	// signature and before any audit write; 0 = no limit.
	BrokerRateLimit float64 `koanf:"broker_rate_limit" yaml:"broker_rate_limit"`
	// BrokerRateBurst is the bucket size of BrokerRateLimit.
	BrokerRateBurst int `koanf:"broker_rate_burst" yaml:"broker_rate_burst"`
}

// DefaultBrokerConfig is the broker's built-in defaults (off until a key
// is set).
func DefaultBrokerConfig() BrokerConfig {
	return BrokerConfig{BrokerURLTTL: 10 * time.Minute, BrokerRateLimit: 5, BrokerRateBurst: 20}
}

// Validate checks the key's length, the URL lifetime and the rate limit,
// each problem under prefix + "." + its key (prefix is "keys").
func (c BrokerConfig) Validate(prefix string) error {
	errs := confcheck.New(ErrBrokerKey)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	if _, err := ParseBrokerKey(c.BrokerHMACKey); err != nil {
		errs.Add(key("broker_hmac_key"), "must decode (hex or base64) to at least %d bytes", MinBrokerKeyBytes)
	}
	errs.Duration(key("broker_url_ttl"), c.BrokerURLTTL, time.Minute, 24*time.Hour)
	if c.BrokerRateLimit < 0 {
		errs.Add(key("broker_rate_limit"), "must not be negative (0 = no limit)")
	}
	if c.BrokerRateLimit > 0 && c.BrokerRateBurst < 1 {
		errs.Add(key("broker_rate_burst"), "must be at least 1 when broker_rate_limit is set")
	}
	return errs.Err()
}
