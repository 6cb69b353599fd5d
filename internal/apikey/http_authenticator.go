package apikey

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

// TokenChecker is what HTTPAuthenticator needs: *Store implements it.
type TokenChecker interface {
	Authenticate(ctx context.Context, token string, scope Scope) (Key, error)
}

// HTTPAuthenticator authenticates HTTP requests by their bearer token
// (RFC 6750 §2.1: "Authorization: Bearer <token>").
type HTTPAuthenticator struct {
	tokens TokenChecker
}

// NewHTTPAuthenticator returns an authenticator checking tokens with c.
func NewHTTPAuthenticator(c TokenChecker) *HTTPAuthenticator {
	return &HTTPAuthenticator{tokens: c}
}

// maxAuthorization bounds the Authorization header we look at.
const maxAuthorization = 1024

// Authenticate checks the request's bearer token for scope (a scope name)
// and returns the principal ("apikey:<id>", see Key.Principal). Failures
// are *httperr.Error: 401 unauthorized (missing, malformed, unknown or
// revoked token), 403 forbidden (scope missing), 503 (store unavailable),
// 500 (unknown scope name: a programming error). The 401s and 403s carry
// their RFC 6750 §3 challenge (httperr.Error.Bearer), which httperr.Write
// sends as WWW-Authenticate.
func (a *HTTPAuthenticator) Authenticate(r *http.Request, scope string) (principal string, err error) {
	k, err := a.authenticate(r, scope)
	if err != nil {
		return "", err
	}
	return k.Principal(), nil
}

// AuthenticateEncoder is Authenticate for endpoints encoders call (live
// ingest): besides a bearer token it takes HTTP Basic credentials (RFC 7617)
// whose password is the API token, since encoders such as ffmpeg send
// credentials from the URL that way (DASH-IF Live Media Ingest §6.3 names
// basic authentication). The user name is ignored.
func (a *HTTPAuthenticator) AuthenticateEncoder(r *http.Request, scope Scope) (principal string, err error) {
	k, err := a.authenticateWith(r, scope.String(), encoderToken)
	if err != nil {
		return "", err
	}
	return k.Principal(), nil
}

// encoderToken is the password of a single Basic Authorization header, or
// else the bearer token.
func encoderToken(r *http.Request) (string, bool) {
	if vs := r.Header.Values("Authorization"); len(vs) == 1 && len(vs[0]) <= maxAuthorization {
		if _, pass, ok := r.BasicAuth(); ok {
			return pass, pass != ""
		}
	}
	return bearerToken(r)
}

func (a *HTTPAuthenticator) authenticate(r *http.Request, scope string) (Key, error) {
	return a.authenticateWith(r, scope, bearerToken)
}

func (a *HTTPAuthenticator) authenticateWith(r *http.Request, scope string, credential func(*http.Request) (string, bool)) (Key, error) {
	sc, err := ParseScope(scope)
	if err != nil {
		return Key{}, httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "internal error")
	}
	token, ok := credential(r)
	if !ok {
		return Key{}, httperr.Wrap(ErrUnauthenticated, http.StatusUnauthorized, httperr.CodeUnauthorized, "a bearer token is required").Bearer(r)
	}
	k, err := a.tokens.Authenticate(r.Context(), token, sc)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, ErrUnauthenticated):
		return Key{}, httperr.Wrap(err, http.StatusUnauthorized, httperr.CodeUnauthorized, "invalid or revoked token").Bearer(r)
	case errors.Is(err, ErrForbidden):
		return Key{}, httperr.Wrap(err, http.StatusForbidden, httperr.CodeForbidden, "token lacks the "+sc.String()+" scope").Bearer(r)
	}
	he := httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "credential store unavailable")
	he.RetryAfter = 1
	return Key{}, he
}

// bearerToken extracts the token of a single "Authorization: Bearer"
// header; the scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	vs := r.Header.Values("Authorization")
	if len(vs) != 1 || len(vs[0]) > maxAuthorization {
		return "", false
	}
	scheme, token, ok := strings.Cut(vs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

type principalKey struct{}

// Require wraps next so it only runs for requests whose bearer token
// carries scope; others get the 401/403 answer. next finds the principal
// with PrincipalFrom.
func (a *HTTPAuthenticator) Require(scope Scope, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := a.authenticate(r, scope.String())
		if err != nil {
			httperr.Write(w, r, log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, k.Principal())))
	})
}

// PrincipalFrom returns the principal Require authenticated.
func PrincipalFrom(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}
