package speke

import "errors"

// Sentinel errors of package speke.
var (
	// ErrUnauthenticated is returned by an Authenticator when a request has
	// no valid credentials (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden is returned by an Authenticator when the credentials are
	// valid but lack the "speke" scope (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrRequest reports a SPEKE request the key provider rejects (HTTP 4xx).
	ErrRequest = errors.New("invalid SPEKE request")
	// ErrProvider reports a failed exchange with a SPEKE key provider
	// (client side): transport error, HTTP error, or a response that does
	// not answer the request.
	ErrProvider = errors.New("SPEKE provider error")
	// ErrResponse reports a provider response that is not usable: missing
	// keys, bad sizes, clear keys where encrypted ones were asked for.
	ErrResponse = errors.New("unusable SPEKE response")
	// ErrConfig reports a client configuration error.
	ErrConfig = errors.New("invalid SPEKE configuration")
)
