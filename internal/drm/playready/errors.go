package playready

import "errors"

// Sentinel errors of package playready. Errors about malformed input also
// wrap drm.ErrInvalid.
var (
	ErrInvalid     = errors.New("invalid PlayReady header")
	ErrUnsupported = errors.New("unsupported PlayReady header")
	ErrKeys        = errors.New("PlayReady header needs one 16-byte content key per KID")
)
