package observability

import "errors"

// Sentinel errors of this package; callers match them with errors.Is.
var (
	// ErrConfig reports an invalid logging or tracing configuration.
	ErrConfig = errors.New("observability: invalid configuration")
	// ErrSecretAttribute reports a span or log attribute whose value looks
	// like a secret (a token, a key, a credential) and was refused.
	ErrSecretAttribute = errors.New("observability: attribute value looks like a secret")
)
