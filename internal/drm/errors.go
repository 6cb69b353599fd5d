package drm

import "errors"

// ErrInvalid reports a malformed identifier or DRM data structure.
var ErrInvalid = errors.New("invalid DRM data")
