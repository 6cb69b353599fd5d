package config

import (
	"encoding/base64"
	"encoding/hex"
	"time"
)

// KeysConfig is the key service (package keys).
type KeysConfig struct {
	// BrokerHMACKey signs the expiring, content-scoped URLs through which
	// packaging workers fetch a job's keys (strict-broker delivery): 32 or
	// more bytes, hex or base64. Empty disables the broker. Secret.
	BrokerHMACKey string `koanf:"broker_hmac_key" yaml:"broker_hmac_key" secret:"true"`
	// BrokerURLTTL is how long a broker URL stays valid.
	BrokerURLTTL time.Duration `koanf:"broker_url_ttl" yaml:"broker_url_ttl"`
	// BrokerRateLimit is the requests per second one client IP may send to
	// the broker endpoint (token bucket, IPv6 by /64), checked before the
	// signature and before any audit write; 0 = no limit.
	BrokerRateLimit float64 `koanf:"broker_rate_limit" yaml:"broker_rate_limit"`
	// BrokerRateBurst is the bucket size of BrokerRateLimit.
	BrokerRateBurst int `koanf:"broker_rate_burst" yaml:"broker_rate_burst"`
	// AllowReveal lets GET /v1/admin/keys/{kid}?reveal=true return the
	// clear key to an admin API key. Off by default.
	AllowReveal bool `koanf:"allow_reveal" yaml:"allow_reveal"`
}

func defaultKeys() KeysConfig {
	return KeysConfig{BrokerURLTTL: 10 * time.Minute, BrokerRateLimit: 5, BrokerRateBurst: 20}
}

// Validate checks the broker key's length and the URL lifetime.
func (c KeysConfig) Validate() error {
	var errs errList
	if c.BrokerHMACKey != "" && len(decodeKey(c.BrokerHMACKey)) < 32 {
		errs.add("keys.broker_hmac_key", "must decode (hex or base64) to at least 32 bytes")
	}
	checkDuration(&errs, "keys.broker_url_ttl", c.BrokerURLTTL, time.Minute, 24*time.Hour)
	if c.BrokerRateLimit < 0 {
		errs.add("keys.broker_rate_limit", "must not be negative (0 = no limit)")
	}
	if c.BrokerRateLimit > 0 && c.BrokerRateBurst < 1 {
		errs.add("keys.broker_rate_burst", "must be at least 1 when broker_rate_limit is set")
	}
	return errs.err()
}

// decodeKey decodes hex, then base64 (std or URL, padded or not); nil if
// neither.
func decodeKey(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil {
		return b
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}
