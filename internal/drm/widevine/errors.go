package widevine

import "errors"

// ErrInvalid reports malformed WidevinePsshData. It wraps drm.ErrInvalid
// through the error messages built in this package.
var ErrInvalid = errors.New("invalid Widevine pssh data")
