package hls

import "errors"

// Sentinel errors of package hls. The marshal functions wrap them with detail.
var (
	// ErrInvalidPresentation reports a track or presentation that cannot be
	// written as a conformant playlist (missing fields, bad numbering, a
	// string that cannot be an RFC 8216 quoted-string, ...).
	ErrInvalidPresentation = errors.New("invalid presentation for HLS")
	// ErrMissingSignaling reports a DRM system listed without the data its
	// EXT-X-KEY needs (for example Widevine without a pssh box).
	ErrMissingSignaling = errors.New("missing DRM signaling data")
)
