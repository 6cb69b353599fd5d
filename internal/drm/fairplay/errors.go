package fairplay

import "errors"

// ErrInvalidKeyURI reports a FairPlay key URI that is not an skd:// URI.
var ErrInvalidKeyURI = errors.New("invalid FairPlay key URI")
