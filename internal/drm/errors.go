package drm

import "errors"

// Sentinel errors of package drm.
var (
	// ErrInvalid reports a malformed identifier or DRM data structure.
	ErrInvalid = errors.New("invalid DRM data")
	// ErrBadChallenge reports a license request body from which no CDM
	// challenge can be decoded; the challenge decoders of drm/* wrap it.
	ErrBadChallenge = errors.New("malformed license challenge")
)
