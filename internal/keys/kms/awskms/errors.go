package awskms

import "errors"

// Sentinel errors of the AWS KMS backend. Everything else is reported with
// the kms package's sentinels.
var (
	// ErrConfig reports a configuration that cannot work (no key ID, no
	// region, no credentials).
	ErrConfig = errors.New("awskms: bad configuration")
	// ErrKeyNotUsable reports a KMS key that exists but cannot wrap: not a
	// symmetric ENCRYPT_DECRYPT key, or not enabled.
	ErrKeyNotUsable = errors.New("awskms: KMS key not usable for wrapping")
)
