package packager

import "errors"

// Sentinel errors of package packager.
var (
	ErrConfig       = errors.New("invalid packaging configuration")
	ErrOutputExists = errors.New("output path exists and is not a directory")
	ErrMedia        = errors.New("media cannot be packaged")
	ErrOutputBusy   = errors.New("another drmpipe run is writing this output")
)
