package config

import "errors"

// Sentinel errors; Load and Validate wrap them with the offending key.
var (
	// ErrLoad reports a configuration source that cannot be read or parsed,
	// or that names an unknown option.
	ErrLoad = errors.New("config: cannot load")
	// ErrInvalid reports a value that fails validation.
	ErrInvalid = errors.New("config: invalid")
)
