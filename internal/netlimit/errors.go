package netlimit

import "errors"

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("netlimit: invalid configuration")
