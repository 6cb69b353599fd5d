package upstream

import "errors"

// Sentinel errors of package upstream.
var (
	// ErrConfig reports an invalid upstream configuration.
	ErrConfig = errors.New("invalid upstream configuration")
	// ErrUnknownType reports an unknown adapter type name.
	ErrUnknownType = errors.New("unknown upstream type")
	// ErrStatus reports a non-2xx answer from an upstream.
	ErrStatus = errors.New("upstream answered an error status")
	// ErrTransport reports a failed exchange (connection, read).
	ErrTransport = errors.New("upstream transport failure")
	// ErrRefused reports a vendor refusal inside a 200 answer (Widevine
	// proxy status other than OK).
	ErrRefused = errors.New("upstream refused the license")
	// ErrNoKIDs reports an adapter that needs key IDs (Axinom) for a
	// decision that names none and no KID source.
	ErrNoKIDs = errors.New("no key IDs for the entitlement message")
)
