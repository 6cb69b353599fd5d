package entitlement

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Identity of drmpipe's own playback tokens when the configuration names
// none (demo mode).
const (
	DefaultIssuer   = "drmpipe"
	DefaultAudience = "drmpipe-license"
)

// Defaults of the JWKS settings (JWKSConfig's zero values mean these too).
const (
	DefaultJWKSTimeout        = 5 * time.Second
	DefaultJWKSRefresh        = 5 * time.Minute
	DefaultJWKSMinRefresh     = 30 * time.Second
	DefaultSigningKeyFileName = "token_signing_key.pem"
)

// Algorithms are the JWS algorithms a deployment may pin (RFC 7518 §3.1,
// RFC 8037 §3.1): the ones Verifier implements; "none" and HMAC never.
var Algorithms = []string{AlgES256, AlgRS256, AlgEdDSA}

// TokensConfig is playback-token verification and drmpipe's own token
// signer: the tokens section of the configuration file.
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
	// JWKSTimeout bounds one fetch of the JWKS URL.
	JWKSTimeout time.Duration `koanf:"jwks_timeout" yaml:"jwks_timeout"`
	// JWKSMinRefresh is the least time between two fetches triggered by
	// tokens with an unknown kid (key rotation), so forged kids cannot make
	// drmpipe hammer the JWKS endpoint.
	JWKSMinRefresh time.Duration `koanf:"jwks_min_refresh" yaml:"jwks_min_refresh"`
	// Algorithms pins the accepted JWS algorithms, a subset of Algorithms.
	Algorithms []string `koanf:"algorithms" yaml:"algorithms"`
	// MaxLifetime caps exp - iat (and exp - now) of accepted tokens, and
	// the lifetime of the tokens drmpipe mints.
	MaxLifetime time.Duration `koanf:"max_lifetime" yaml:"max_lifetime"`
	// ClockSkew is the leeway on exp, nbf and iat.
	ClockSkew time.Duration `koanf:"clock_skew" yaml:"clock_skew"`
	// MaxTokenBytes bounds a raw token, checked before parsing.
	MaxTokenBytes int `koanf:"max_token_bytes" yaml:"max_token_bytes"`
	// VerifiedCacheEntries bounds the cache of verified tokens; -1 = no
	// cache.
	VerifiedCacheEntries int `koanf:"verified_cache_entries" yaml:"verified_cache_entries"`
	// SigningKeyFile is drmpipe's own token signing key (drmpipe token,
	// POST /v1/tokens), generated on first use; empty =
	// <data_dir>/token_signing_key.pem (ResolvePaths).
	SigningKeyFile string `koanf:"signing_key_file" yaml:"signing_key_file"`
	// Header is an extra request header carrying the token, for players
	// that cannot set Authorization; empty = Authorization: Bearer only.
	Header string `koanf:"header" yaml:"header"`
}

// DefaultTokensConfig is the tokens section's built-in defaults.
func DefaultTokensConfig() TokensConfig {
	return TokensConfig{
		Audiences:            []string{},
		Algorithms:           slices.Clone(Algorithms),
		JWKSRefresh:          DefaultJWKSRefresh,
		JWKSTimeout:          DefaultJWKSTimeout,
		JWKSMinRefresh:       DefaultJWKSMinRefresh,
		MaxLifetime:          DefaultMaxLifetime,
		ClockSkew:            DefaultClockSkew,
		MaxTokenBytes:        DefaultMaxTokenSize,
		VerifiedCacheEntries: DefaultVerifiedCacheEntries,
	}
}

// ResolvePaths fills the signing key file under dataDir when unset.
func (c *TokensConfig) ResolvePaths(dataDir string) {
	if c.SigningKeyFile == "" {
		c.SigningKeyFile = filepath.Join(dataDir, DefaultSigningKeyFileName)
	}
}

// Validate checks the algorithms, lifetimes and key sources, each problem
// under prefix + "." + its key (prefix is "tokens"). Outside demo mode an
// issuer, an audience and a JWKS are required. The errors wrap ErrConfig.
func (c TokensConfig) Validate(prefix string, demo bool) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	if len(c.Algorithms) == 0 {
		errs.Add(key("algorithms"), "must list at least one algorithm")
	}
	for i, a := range c.Algorithms {
		if !slices.Contains(Algorithms, a) {
			errs.Add(fmt.Sprintf("%s[%d]", key("algorithms"), i), "%q is not allowed (want ES256, RS256 or EdDSA; none and HMAC are refused)", a)
		}
	}
	errs.Duration(key("max_lifetime"), c.MaxLifetime, time.Second, 24*time.Hour)
	errs.Duration(key("clock_skew"), c.ClockSkew, 0, 5*time.Minute)
	errs.Duration(key("jwks_refresh"), c.JWKSRefresh, 10*time.Second, 24*time.Hour)
	errs.Duration(key("jwks_timeout"), c.JWKSTimeout, 100*time.Millisecond, time.Minute)
	errs.Duration(key("jwks_min_refresh"), c.JWKSMinRefresh, time.Second, time.Hour)
	if c.MaxTokenBytes < 1024 || c.MaxTokenBytes > 64<<10 {
		errs.Add(key("max_token_bytes"), "must be between 1024 and 65536 (got %d)", c.MaxTokenBytes)
	}
	if c.VerifiedCacheEntries == 0 || c.VerifiedCacheEntries < -1 || c.VerifiedCacheEntries > 10_000_000 {
		errs.Add(key("verified_cache_entries"), "must be -1 (no cache) or between 1 and 10000000 (got %d)", c.VerifiedCacheEntries)
	}
	if c.JWKSURL != "" {
		errs.URL(key("jwks_url"), c.JWKSURL, false)
	}
	if !demo {
		if c.Issuer == "" {
			errs.Add(key("issuer"), "is required (or set server.demo)")
		}
		if len(c.Audiences) == 0 {
			errs.Add(key("audiences"), "must list at least one audience (or set server.demo)")
		}
		if c.JWKSFile == "" && c.JWKSURL == "" {
			errs.Add(prefix, "one of jwks_file or jwks_url is required (or set server.demo)")
		}
	}
	return errs.Err()
}

// Identity is the iss and aud of drmpipe's own playback tokens: Issuer and
// the first of Audiences, or DefaultIssuer and DefaultAudience.
func (c TokensConfig) Identity() (issuer, audience string) {
	issuer, audience = c.Issuer, DefaultAudience
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if len(c.Audiences) > 0 {
		audience = c.Audiences[0]
	}
	return issuer, audience
}

// SignerConfig is the configuration of drmpipe's own signer for tokens
// living ttl.
func (c TokensConfig) SignerConfig(ttl time.Duration) SignerConfig {
	issuer, audience := c.Identity()
	return SignerConfig{File: c.SigningKeyFile, Issuer: issuer, Audience: audience, TTL: ttl}
}

// JWKSConfig is the operator's key set (JWKSFile or JWKSURL must be set).
func (c TokensConfig) JWKSConfig() JWKSConfig {
	return JWKSConfig{File: c.JWKSFile, URL: c.JWKSURL, Timeout: c.JWKSTimeout, RefreshInterval: c.JWKSRefresh, MinRefreshInterval: c.JWKSMinRefresh}
}

// VerifierConfig is the verification of tokens: one verifier accepts every
// configured audience (or the default one), so each token's signature is
// checked once.
func (c TokensConfig) VerifierConfig() VerifierConfig {
	issuer, audience := c.Identity()
	return VerifierConfig{
		Issuer: issuer, Audience: audience, Audiences: c.Audiences, Algorithms: c.Algorithms, ClockSkew: c.ClockSkew,
		MaxLifetime: c.MaxLifetime, MaxTokenSize: c.MaxTokenBytes, VerifiedCacheEntries: c.VerifiedCacheEntries,
	}
}
