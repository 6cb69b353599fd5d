package license

import "errors"

// Sentinel errors of package license.
var (
	// ErrConfig reports an invalid license configuration.
	ErrConfig = errors.New("invalid license configuration")
	// ErrUnknownKey is what a key lookup wraps for a KID it does not know
	// (lookups may also wrap keys.ErrKeyNotFound).
	ErrUnknownKey = errors.New("unknown key")
	// ErrEmptyPurge reports a purge filter without any field set.
	ErrEmptyPurge = errors.New("purge filter selects nothing")
)
