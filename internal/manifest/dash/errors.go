package dash

import "errors"

// Sentinel errors of package dash. Marshal wraps them with detail.
var (
	// ErrInvalidPresentation reports a Presentation that cannot be described
	// by a conformant MPD (missing fields, overlapping segments, ...).
	ErrInvalidPresentation = errors.New("invalid presentation for DASH")
	// ErrMissingSignaling reports a DRM system listed without the data its
	// ContentProtection descriptor needs (for example Widevine without a pssh).
	ErrMissingSignaling = errors.New("missing DRM signaling data")
	// ErrInconsistentProtection reports Representations that would share an
	// AdaptationSet (same key) but carry different DRM signaling.
	ErrInconsistentProtection = errors.New("inconsistent protection within an AdaptationSet")
)
