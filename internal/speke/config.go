// Package speke implements the Secure Packager and Encoder Key Exchange API
// (AWS SPEKE v1, v2.0 on CPIX 2.3 and v2.1 on CPIX 2.4): a key provider HTTP handler that
// answers encryptors (MediaPackage, MediaConvert, drmpipe itself) with
// content keys from the key store and the DRM signaling of each requested
// system, and a client the packager uses to get keys and signaling from any
// SPEKE provider.
package speke

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Scope is the API-token scope an encryptor needs.
const Scope = "speke"

// Protocol header names (AWS SPEKE v2 "SPEKE API v2": X-Speke-Version is
// required on requests and echoed on responses; user agents identify peers).
const (
	HeaderVersion     = "X-Speke-Version"
	HeaderUserAgentV2 = "X-Speke-User-Agent"
	HeaderUserAgentV1 = "Speke-User-Agent"
	Version2          = "2.0"
	// Version21 is SPEKE v2.1 (CPIX 2.4): key periods may carry their
	// times (AWS SPEKE "Changes from SPEKE v2.0").
	Version21 = "2.1"
	userAgent = "drmpipe"
)

// QueryOverrideKeyIDs is the provider URL's query parameter that asks for
// store-chosen KIDs (overrideKeyIds=true; see NewHandler).
const QueryOverrideKeyIDs = "overrideKeyIds"

// Paths served by the handler.
const (
	PathV1 = "/speke/v1/copyProtection"
	PathV2 = "/speke/v2/copyProtection"
)

// Defaults of Config and ClientConfig: the values of DefaultConfig, and
// what a zero value means to NewHandler and NewClient (except Retries, whose
// zero means none).
const (
	DefaultMaxRequestBytes  = 1 << 20
	DefaultClientVersion    = 2
	DefaultClientTimeout    = 30 * time.Second
	DefaultClientRetries    = 3
	DefaultClientBackoff    = 500 * time.Millisecond
	DefaultClientBackoffMax = 10 * time.Second
	DefaultMaxResponseBytes = 16 << 20
	// DefaultFairPlayKeyURIPrefix gives skd://<hex KID>.
	DefaultFairPlayKeyURIPrefix = "skd://"
)

// Config is SPEKE's configuration, the speke section of the configuration
// file: the DRM signaling drmpipe puts in its answers as key provider, who
// may call it with a client certificate, and the client the packager uses
// to ask a remote key provider.
type Config struct {
	// Systems are the DRMs signaled when a packaging job does not name
	// them (drmpipe package without --drm; FairPlay is left out under cenc).
	Systems []string `koanf:"systems" yaml:"systems"`
	// WidevineProvider is the provider field of Widevine pssh data.
	WidevineProvider string `koanf:"widevine_provider" yaml:"widevine_provider"`
	// PlayReadyLAURL goes into the PlayReady header's LA_URL when set.
	PlayReadyLAURL string `koanf:"playready_la_url" yaml:"playready_la_url"`
	// FairPlayKeyURIPrefix starts FairPlay skd:// key URIs; the hex KID
	// follows, unless it holds a "{kid}" or "{kid_uuid}" placeholder of
	// drm/fairplay.KeyURI. Empty gives skd://<hex KID>.
	FairPlayKeyURIPrefix string `koanf:"fairplay_key_uri_prefix" yaml:"fairplay_key_uri_prefix"`
	// ClearKeyLAURL is the ClearKey license URL signaled as dashif:Laurl
	// (and the legacy clearkey:Laurl); HLS carries the KID instead.
	ClearKeyLAURL string `koanf:"clearkey_la_url" yaml:"clearkey_la_url"`
	// MTLSClients are the client certificate identities (subject common
	// name or DNS SAN) allowed to call the SPEKE endpoints without an API
	// key, over TLS with server.tls.client_ca_file.
	MTLSClients []string `koanf:"mtls_clients" yaml:"mtls_clients"`
	// MaxRequestBytes bounds the CPIX request body; 0 =
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64 `koanf:"max_request_bytes" yaml:"max_request_bytes"`
	// Client is the SPEKE client of drmpipe package --speke.
	Client ClientConfig `koanf:"client" yaml:"client"`
}

// DefaultConfig is the built-in SPEKE configuration.
func DefaultConfig() Config {
	return Config{
		Systems:              []string{"widevine", "playready", "fairplay", "clearkey"},
		FairPlayKeyURIPrefix: DefaultFairPlayKeyURIPrefix,
		MTLSClients:          []string{},
		MaxRequestBytes:      DefaultMaxRequestBytes,
		Client:               DefaultClientConfig(),
	}
}

// DefaultClientConfig is the built-in client configuration (no URL).
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Version: DefaultClientVersion, Timeout: DefaultClientTimeout, Retries: DefaultClientRetries,
		BackoffBase: DefaultClientBackoff, BackoffMax: DefaultClientBackoffMax, MaxResponseBytes: DefaultMaxResponseBytes,
	}
}

func (c Config) maxBytes() int64 {
	if c.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return c.MaxRequestBytes
}

// FairPlayKeyURI is the drm/fairplay.KeyURI template of the prefix.
func (c Config) FairPlayKeyURI() string {
	p := c.FairPlayKeyURIPrefix
	if p == "" || strings.Contains(p, "{kid") {
		return p
	}
	return p + "{kid}"
}

// Validate checks the section, each problem under prefix + "." + its key
// (prefix is "speke"). The errors wrap ErrConfig.
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	for i, s := range c.Systems {
		if _, err := drm.ParseSystem(s); err != nil {
			errs.Add(fmt.Sprintf("%s[%d]", key("systems"), i), "unknown DRM %q (want widevine, playready, fairplay or clearkey)", s)
		}
	}
	if c.PlayReadyLAURL != "" {
		errs.URL(key("playready_la_url"), c.PlayReadyLAURL, true)
	}
	if c.ClearKeyLAURL != "" {
		errs.URL(key("clearkey_la_url"), c.ClearKeyLAURL, true)
	}
	if c.FairPlayKeyURIPrefix != "" && !strings.HasPrefix(c.FairPlayKeyURIPrefix, DefaultFairPlayKeyURIPrefix) {
		errs.Add(key("fairplay_key_uri_prefix"), "must start with skd://")
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 64<<20 {
		errs.Add(key("max_request_bytes"), "must be between 1024 and 67108864 (got %d)", c.MaxRequestBytes)
	}
	c.Client.validate(errs, key("client"))
	return errs.Err()
}

func (c ClientConfig) validate(errs *confcheck.Errors, p string) {
	if c.URL != "" {
		errs.URL(p+".url", c.URL, false)
	}
	if c.Version != 1 && c.Version != 2 {
		errs.Add(p+".version", "must be 1 or 2 (got %d)", c.Version)
	}
	errs.Duration(p+".timeout", c.Timeout, 100*time.Millisecond, 5*time.Minute)
	if c.Retries < 0 || c.Retries > 10 {
		errs.Add(p+".retries", "must be between 0 (none) and 10 (got %d)", c.Retries)
	}
	errs.Duration(p+".backoff_base", c.BackoffBase, time.Millisecond, time.Minute)
	errs.Duration(p+".backoff_max", c.BackoffMax, c.BackoffBase, 10*time.Minute)
	if c.MaxResponseBytes < 1024 || c.MaxResponseBytes > 1<<30 {
		errs.Add(p+".max_response_bytes", "must be between 1024 and 1073741824 (got %d)", c.MaxResponseBytes)
	}
}

// KeyGetter gets or creates content keys; keys.Store satisfies it. Retried
// and concurrent requests must get the same key.
type KeyGetter interface {
	// GetOrCreateKID returns or creates the key of the KID the encryptor
	// chose (ContentKey@kid), recording its track type and period; it
	// fails with keys.ErrKIDConflict for a KID of another content ID and
	// keys.ErrKeyRevoked for a revoked KID.
	GetOrCreateKID(ctx context.Context, contentID string, kid drm.KeyID, t keys.TrackType, period uint32) (keys.ContentKey, error)
	// GetOrCreate returns or creates the key of a (content ID, track type,
	// crypto period) slot, with a KID of the store's choosing: used for the
	// keys of a key rotation request and for a ContentKey without a usable
	// KID (all-zero), whose KIDs the response then overrides.
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
}

// Authenticator authenticates an encryptor for a scope. It returns an error
// wrapping ErrUnauthenticated (401) or ErrForbidden (403), or an
// *httperr.Error with its own status.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (principal string, err error)
}

// PeriodRecorder records the time a key period covers and checks it
// against what was recorded before, and numbers periods given by time
// alone (keys.PeriodTimesStore; the SQL store implements it).
type PeriodRecorder interface {
	RecordPeriodTimes(ctx context.Context, contentID string, p keys.PeriodTimes) error
	PeriodIndexFor(ctx context.Context, contentID string, p keys.PeriodTimes) (uint32, error)
}

// Deps are the handler's dependencies. Without Auth every request is refused
// with 401: keys are never served unauthenticated. Periods, when set,
// records the times of key periods that requests give (CPIX 2.4
// @start/@end or @startOffset/@endOffset), so later requests must agree
// with them.
type Deps struct {
	Keys    KeyGetter
	Periods PeriodRecorder
	Auth    Authenticator
	Logger  *slog.Logger
}
