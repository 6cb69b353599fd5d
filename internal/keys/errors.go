package keys

import "errors"

// Sentinel errors of package keys.
var (
	ErrUnknownTrackType = errors.New("unknown track type")
	ErrKeySize          = errors.New("content key must be 16 bytes")
	ErrIVSize           = errors.New("bad IV size")
	ErrNoKey            = errors.New("no key for track")
	// ErrInvalidContentID reports a content ID outside the rule of
	// ValidateContentID.
	ErrInvalidContentID = errors.New("invalid content ID")
)
