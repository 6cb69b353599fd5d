package signaling

import "errors"

// Sentinel errors of package signaling.
var (
	// ErrInvalid reports inputs no signaling can be built from: an unknown
	// scheme or system, an all-zero KID, a value an attribute cannot hold.
	ErrInvalid = errors.New("invalid DRM signaling input")
	// ErrMissing reports a system without the data its signaling needs (for
	// example Widevine without a pssh box).
	ErrMissing = errors.New("missing DRM signaling data")
)
