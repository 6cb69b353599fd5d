package clearkey

import "errors"

// ErrInvalid reports a malformed ClearKey message or identifier.
var ErrInvalid = errors.New("invalid ClearKey data")
