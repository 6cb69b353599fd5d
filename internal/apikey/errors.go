package apikey

import "errors"

// Sentinel errors of package apikey.
var (
	// ErrUnauthenticated reports a token that is missing, malformed,
	// unknown, wrong or revoked. Callers answer 401 and never say which.
	ErrUnauthenticated = errors.New("apikey: unauthenticated")
	// ErrForbidden reports a valid token that lacks the scope asked for.
	ErrForbidden = errors.New("apikey: forbidden")
	// ErrNotFound reports an unknown API key ID (Revoke) or, from a
	// Backend, a missing row.
	ErrNotFound = errors.New("apikey: not found")
	// ErrInvalid reports a bad Create request (name, scopes) or audit entry.
	ErrInvalid = errors.New("apikey: invalid request")
	// ErrUnknownScope reports a scope name that is not speke, admin or
	// license-token.
	ErrUnknownScope = errors.New("apikey: unknown scope")
)
