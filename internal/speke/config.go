// Package speke implements the Secure Packager and Encoder Key Exchange API
// (AWS SPEKE v1, v2.0 on CPIX 2.3 and v2.1 on CPIX 2.4): a key provider HTTP handler that
// answers encryptors (MediaPackage, MediaConvert, drmpipe itself) with
// content keys from the key store and the DRM signaling of each requested
// system, and a client the packager uses to get keys and signaling from any
// SPEKE provider.
package speke

import (
	"context"
	"log/slog"
	"net/http"

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

// DefaultMaxRequestBytes bounds a request body when Config leaves it zero.
const DefaultMaxRequestBytes = 1 << 20

// Config is the key provider's configuration.
type Config struct {
	// MaxRequestBytes bounds the CPIX request body (default 1 MiB).
	MaxRequestBytes int64
	// PlayReadyLAURL goes into the PlayReady header's LA_URL when set.
	PlayReadyLAURL string
	// ClearKeyLAURL is the ClearKey license URL signaled as dashif:Laurl (and the legacy clearkey:Laurl).
	ClearKeyLAURL string
	// FairPlayKeyURI is the skd:// template of drm/fairplay.KeyURI ("{kid}",
	// "{kid_uuid}"); empty gives skd://<hex KID>.
	FairPlayKeyURI string
	// WidevineProvider is the provider field of Widevine pssh data.
	WidevineProvider string
}

func (c Config) maxBytes() int64 {
	if c.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return c.MaxRequestBytes
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
