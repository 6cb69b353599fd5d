// Package entitlement decides whether a viewer may get a license: it verifies
// playback tokens (JWTs), applies the content's policy rules (subscription,
// geography, device limit, revocation) and compiles the restrictions that go
// into the license. It has no HTTP code; license handlers call Authorize.
package entitlement

import (
	"context"
	"net/netip"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/enum"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Request is what a license endpoint knows about one license request.
type Request struct {
	// Token is the raw playback token (JWT) as the client sent it.
	Token string
	// ClientIP is the viewer's address after trusted-proxy resolution.
	ClientIP netip.Addr
	// System is the DRM the license is for.
	System drm.System
	// KIDs are the key IDs the CDM asked for (ClearKey); empty when the
	// request is opaque (Widevine/PlayReady/FairPlay challenges).
	KIDs []drm.KeyID
	// Persistent reports a request for a persistent license.
	Persistent bool
	// ContentID is the content the request is for, when the endpoint knows
	// it (from the URL or a key lookup); Authorize refuses a token for
	// another content. Empty = not checked here (the handler then checks
	// each key with Decision.MayRelease).
	ContentID string
}

// HDCP is a required output protection level.
type HDCP uint8

// Output protection levels.
const (
	HDCPNone HDCP = iota
	HDCPV1
	HDCPV2
	HDCPV22
	HDCPV23
)

var hdcpNames = enum.Names[HDCP]{HDCPNone: "none", HDCPV1: "HDCP_V1", HDCPV2: "HDCP_V2", HDCPV22: "HDCP_V2_2", HDCPV23: "HDCP_V2_3"}

func (h HDCP) String() string { return hdcpNames.String(h) }

// SecurityLevel is the required robustness of the CDM, on Widevine's scale
// (1 = SW_SECURE_CRYPTO ... 5 = HW_SECURE_ALL); vendors map it to theirs.
type SecurityLevel uint8

// Policy is the set of restrictions compiled into a license.
type Policy struct {
	// LicenseDuration is how long the license is valid once issued.
	LicenseDuration time.Duration
	// RentalWindow is how long the content may be started (persistent
	// licenses); zero = same as LicenseDuration.
	RentalWindow time.Duration
	// PlaybackDuration is how long playback may last once started; zero =
	// unlimited within LicenseDuration.
	PlaybackDuration time.Duration
	Persistent       bool
	HDCP             HDCP
	SecurityLevel    SecurityLevel
}

// Decision is a granted entitlement: who, what, and under which policy.
type Decision struct {
	Subject   string // token sub (user)
	DeviceID  string
	ContentID string
	JTI       string
	// TokenExpiry is the token's exp; the license cache keeps an answer no
	// longer than this.
	TokenExpiry time.Time
	// KIDs are the key IDs the viewer may receive; nil means every key of
	// ContentID whose track type is in TrackTypes.
	KIDs []drm.KeyID
	// TrackTypes limits the keys by track type; nil means all types.
	TrackTypes []keys.TrackType
	Policy     Policy
}

// Reason is why a request was refused.
type Reason uint8

// Refusal reasons; each maps to one error code of the license API.
const (
	ReasonTokenMissing Reason = iota + 1
	ReasonTokenInvalid        // bad signature, algorithm, issuer, audience, claims, size
	ReasonTokenExpired        // exp passed or nbf/iat in the future
	ReasonReplay              // jti reused beyond policy
	ReasonRevoked             // user, device, token or KID revoked
	ReasonNotEntitled         // token for other content, KID not allowed, persistence not allowed
	ReasonGeoBlocked
	ReasonDeviceLimit
	ReasonSubscription // subscription inactive
	ReasonUnavailable  // a policy dependency (callback, store) failed: retryable
)

var reasonNames = enum.Names[Reason]{
	ReasonTokenMissing: "token_missing", ReasonTokenInvalid: "token_invalid", ReasonTokenExpired: "token_expired",
	ReasonReplay: "replay", ReasonRevoked: "revoked", ReasonNotEntitled: "not_entitled", ReasonGeoBlocked: "geo_blocked",
	ReasonDeviceLimit: "device_limit", ReasonSubscription: "subscription_inactive", ReasonUnavailable: "unavailable",
}

// String is the metric label and log value of the reason.
func (r Reason) String() string { return reasonNames.String(r) }

// DenyError is returned by Authorize for a refused request. Message is safe
// to show to the client (no token or key material).
type DenyError struct {
	Reason  Reason
	Message string
	Cause   error
}

func (e *DenyError) Error() string {
	if e.Cause != nil {
		return e.Reason.String() + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Reason.String() + ": " + e.Message
}

// Unwrap returns the cause.
func (e *DenyError) Unwrap() error { return e.Cause }

// Authorizer decides one license request.
type Authorizer interface {
	Authorize(ctx context.Context, req Request) (Decision, error)
}
