package license

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
)

// reasonErrors maps each refusal reason to its status and code. Messages
// are fixed strings: DenyError.Message is safe, but the fixed texts keep the
// API stable and make sure nothing from a token reaches the client.
var reasonErrors = map[entitlement.Reason]struct {
	status int
	code   httperr.Code
	msg    string
}{
	entitlement.ReasonTokenMissing: {http.StatusUnauthorized, httperr.CodeUnauthorized, "playback token required"},
	entitlement.ReasonTokenInvalid: {http.StatusUnauthorized, httperr.CodeTokenInvalid, "playback token invalid"},
	entitlement.ReasonTokenExpired: {http.StatusUnauthorized, httperr.CodeTokenExpired, "playback token expired or not yet valid"},
	entitlement.ReasonReplay:       {http.StatusUnauthorized, httperr.CodeTokenInvalid, "playback token already used"},
	entitlement.ReasonRevoked:      {http.StatusForbidden, httperr.CodeRevoked, "access revoked"},
	entitlement.ReasonNotEntitled:  {http.StatusForbidden, httperr.CodeNotEntitled, "not entitled to this content"},
	entitlement.ReasonGeoBlocked:   {http.StatusForbidden, httperr.CodeGeoBlocked, "not available in your location"},
	entitlement.ReasonDeviceLimit:  {http.StatusForbidden, httperr.CodeDeviceLimit, "device limit reached"},
	entitlement.ReasonSubscription: {http.StatusForbidden, httperr.CodeSubscription, "subscription inactive"},
	entitlement.ReasonUnavailable:  {http.StatusServiceUnavailable, httperr.CodeUnavailable, "entitlement check unavailable, retry"},
}

// DenyToHTTP maps an Authorize error to the error schema: a DenyError by its
// Reason (the DenyError stays the logged cause), an *httperr.Error as is,
// anything else to 500.
func DenyToHTTP(err error) error {
	var he *httperr.Error
	if errors.As(err, &he) {
		return err
	}
	var de *entitlement.DenyError
	if errors.As(err, &de) {
		m, ok := reasonErrors[de.Reason]
		if !ok {
			return httperr.Wrap(err, http.StatusForbidden, httperr.CodeForbidden, "request refused")
		}
		e := httperr.Wrap(err, m.status, m.code, m.msg)
		if de.Reason == entitlement.ReasonUnavailable {
			e.RetryAfter = 1
		}
		return e
	}
	return httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "internal error")
}

// KeyRefusalToHTTP maps the refusal of one key (Decision.MayRelease) like
// DenyToHTTP, keeping the refusal's message, which names the key ID and
// nothing else.
func KeyRefusalToHTTP(err error) error {
	mapped := DenyToHTTP(err)
	var he *httperr.Error
	var de *entitlement.DenyError
	if errors.As(mapped, &he) && errors.As(err, &de) {
		he.Message = de.Message
	}
	return mapped
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

func rateLimited(wait time.Duration, who string) error {
	e := httperr.New(http.StatusTooManyRequests, httperr.CodeRateLimited, "too many license requests")
	e.RetryAfter = RetryAfterSeconds(wait)
	e.Cause = errors.New("rate limit per " + who)
	return e
}
