// Package httperr is the one place where errors become HTTP responses. Every
// endpoint answers failures with the same JSON body:
//
//	{"code": "...", "message": "...", "retryAfter": seconds}
//
// The public message is chosen by the handler and never contains key
// material, tokens or upstream bodies; the internal cause is only logged,
// with the request ID.
package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Code is a stable, machine-readable error code.
type Code string

// The error codes of every drmpipe HTTP API.
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeUnauthorized        Code = "unauthorized"
	CodeForbidden           Code = "forbidden"
	CodeNotFound            Code = "not_found"
	CodeMethodNotAllowed    Code = "method_not_allowed"
	CodeTooLarge            Code = "request_too_large"
	CodeTokenExpired        Code = "token_expired"
	CodeTokenInvalid        Code = "token_invalid"
	CodeRevoked             Code = "revoked"
	CodeNotEntitled         Code = "not_entitled"
	CodeGeoBlocked          Code = "geo_blocked"
	CodeDeviceLimit         Code = "device_limit"
	CodeSubscription        Code = "subscription_inactive"
	CodeUnknownKey          Code = "unknown_key"
	CodeRateLimited         Code = "rate_limited"
	CodeUpstreamUnavailable Code = "upstream_unavailable"
	CodeUpstreamError       Code = "upstream_error"
	CodeUnavailable         Code = "unavailable"
	CodeInternal            Code = "internal"
	// CodeChannelHeld: another replica packages the live channel.
	CodeChannelHeld Code = "channel_held"
)

// Error is an error with its HTTP status and public message. Cause, if set,
// is logged but never sent to the client.
type Error struct {
	Status     int
	Code       Code
	Message    string
	RetryAfter int // seconds; 0 = absent
	// Challenge is the WWW-Authenticate header Write sends with the answer
	// (RFC 9110 §11.6.1 requires one on every 401); "" = none. See Bearer.
	Challenge string
	Cause     error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error.
func New(status int, code Code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Wrap returns an Error with an internal cause.
func Wrap(cause error, status int, code Code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message, Cause: cause}
}

// Realm is the protection space of drmpipe's bearer challenges.
const Realm = "drmpipe"

// Bearer sets e's Challenge to the RFC 6750 §3 challenge its status calls
// for, and returns e: on 401 `Bearer realm="drmpipe"`, with
// error="invalid_token" when r carried Bearer credentials that were
// refused; on 403 error="insufficient_scope". Other statuses get no
// challenge. Without credentials, or with those of another scheme (Basic),
// the request "lacks any authentication information" and the challenge
// carries no error code (§3.1).
func (e *Error) Bearer(r *http.Request) *Error {
	switch e.Status {
	case http.StatusUnauthorized:
		e.Challenge = `Bearer realm="` + Realm + `"`
		if r != nil && hasBearerScheme(r.Header.Get("Authorization")) {
			e.Challenge += `, error="invalid_token"`
		}
	case http.StatusForbidden:
		e.Challenge = `Bearer realm="` + Realm + `", error="insufficient_scope"`
	}
	return e
}

// hasBearerScheme reports whether an Authorization value uses the Bearer
// scheme (case-insensitive, RFC 9110 §11.1).
func hasBearerScheme(auth string) bool {
	scheme, _, _ := strings.Cut(auth, " ")
	return strings.EqualFold(scheme, "Bearer")
}

// Body is the JSON error body.
type Body struct {
	Code       Code   `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter,omitempty"`
}

// Write answers err. An *Error anywhere in err's chain gives the status,
// code and message; anything else is a 500 with a generic message. The
// cause is logged at warn (4xx) or error (5xx) level, with the request ID
// the logger takes from r's context.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var he *Error
	if !errors.As(err, &he) {
		he = Wrap(err, http.StatusInternalServerError, CodeInternal, "internal error")
	}
	if log != nil {
		level := slog.LevelWarn
		if he.Status >= 500 {
			level = slog.LevelError
		}
		// The request ID comes from r's context (observability.NewLogger).
		attrs := []any{"status", he.Status, "code", string(he.Code)}
		if he.Cause != nil {
			attrs = append(attrs, "cause", he.Cause.Error())
		}
		if r != nil {
			attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
		}
		log.Log(r.Context(), level, he.Message, attrs...)
	}
	if he.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.RetryAfter))
	}
	if he.Challenge != "" {
		w.Header().Set("WWW-Authenticate", he.Challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(he.Status)
	_ = json.NewEncoder(w).Encode(Body{Code: he.Code, Message: he.Message, RetryAfter: he.RetryAfter})
}
