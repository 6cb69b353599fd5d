package local

import "errors"

// Sentinel errors of the local KMS.
var (
	// ErrInsecureKEKFile reports a KEK file that others than its owner can
	// read or write, or that is not a regular file.
	ErrInsecureKEKFile = errors.New("local kms: insecure KEK file")
	// ErrKEKFile reports a KEK file that cannot be read or parsed.
	ErrKEKFile = errors.New("local kms: bad KEK file")
)
