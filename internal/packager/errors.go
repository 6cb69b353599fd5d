package packager

import "errors"

// Sentinel errors of package packager.
var (
	ErrConfig = errors.New("invalid packaging configuration")
	ErrMedia  = errors.New("media cannot be packaged")
)
