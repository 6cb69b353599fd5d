package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"
)

// TokensConfig is playback-token (JWT) verification (package entitlement).
type TokensConfig struct {
	// Issuer is the required iss claim.
	Issuer string `koanf:"issuer" yaml:"issuer"`
	// Audiences lists accepted aud values; a token must name one of them.
	Audiences []string `koanf:"audiences" yaml:"audiences"`
	// JWKSFile is a JSON Web Key Set file with the operator's public keys.
	JWKSFile string `koanf:"jwks_file" yaml:"jwks_file"`
	// JWKSURL is fetched (https) and cached; refreshed every JWKSRefresh.
	JWKSURL string `koanf:"jwks_url" yaml:"jwks_url"`
	// JWKSRefresh is how often the JWKS URL is re-read.
	JWKSRefresh time.Duration `koanf:"jwks_refresh" yaml:"jwks_refresh"`
	// Algorithms pins the accepted JWS algorithms (RFC 7518 §3.1, RFC 8037):
	// asymmetric only; "none" and HMAC are always refused.
	Algorithms []string `koanf:"algorithms" yaml:"algorithms"`
	// MaxLifetime caps exp - iat (and exp - now) of accepted tokens.
	MaxLifetime time.Duration `koanf:"max_lifetime" yaml:"max_lifetime"`
	// ClockSkew is the leeway on exp, nbf and iat.
	ClockSkew time.Duration `koanf:"clock_skew" yaml:"clock_skew"`
	// SigningKeyFile is drmpipe's own token signing key (drmpipe token,
	// POST /v1/tokens), generated on first use; empty =
	// <data_dir>/token_signing_key.pem.
	SigningKeyFile string `koanf:"signing_key_file" yaml:"signing_key_file"`
	// Header is an extra request header carrying the token, for players
	// that cannot set Authorization; empty = Authorization: Bearer only.
	Header string `koanf:"header" yaml:"header"`
}

// allowedAlgorithms are the JWS algorithms a deployment may pin.
var allowedAlgorithms = map[string]bool{
	"ES256": true, "ES384": true, "ES512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"EdDSA": true,
}

func defaultTokens() TokensConfig {
	return TokensConfig{
		Audiences:   []string{},
		Algorithms:  []string{"ES256", "RS256", "EdDSA"},
		JWKSRefresh: 5 * time.Minute,
		MaxLifetime: 30 * time.Second,
		ClockSkew:   5 * time.Second,
	}
}

func (c *TokensConfig) resolve(dataDir string) {
	if c.SigningKeyFile == "" {
		c.SigningKeyFile = filepath.Join(dataDir, "token_signing_key.pem")
	}
}

// Validate checks the algorithms, lifetimes and key sources. Outside demo
// mode an issuer, an audience and a JWKS are required.
func (c TokensConfig) Validate(demo bool) error {
	var errs errList
	if len(c.Algorithms) == 0 {
		errs.add("tokens.algorithms", "must list at least one algorithm")
	}
	for i, a := range c.Algorithms {
		if !allowedAlgorithms[a] {
			errs.add(fmt.Sprintf("tokens.algorithms[%d]", i), "%q is not allowed (want ES256/384/512, RS256/384/512, PS256/384/512 or EdDSA; none and HMAC are refused)", a)
		}
	}
	checkDuration(&errs, "tokens.max_lifetime", c.MaxLifetime, time.Second, 24*time.Hour)
	checkDuration(&errs, "tokens.clock_skew", c.ClockSkew, 0, 5*time.Minute)
	checkDuration(&errs, "tokens.jwks_refresh", c.JWKSRefresh, 10*time.Second, 24*time.Hour)
	if c.JWKSURL != "" {
		checkURL(&errs, "tokens.jwks_url", c.JWKSURL, false)
	}
	if !demo {
		if c.Issuer == "" {
			errs.add("tokens.issuer", "is required (or set server.demo)")
		}
		if len(c.Audiences) == 0 {
			errs.add("tokens.audiences", "must list at least one audience (or set server.demo)")
		}
		if c.JWKSFile == "" && c.JWKSURL == "" {
			errs.add("tokens", "one of jwks_file or jwks_url is required (or set server.demo)")
		}
	}
	return errs.err()
}

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
