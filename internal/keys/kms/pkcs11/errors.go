package pkcs11

import "errors"

// Sentinel errors of the PKCS#11 backend. Errors that mean the HSM cannot be
// used also wrap kms.ErrUnavailable.
var (
	// ErrConfig reports a configuration that cannot work (no module path,
	// token label, PIN or key label).
	ErrConfig = errors.New("pkcs11 kms: bad configuration")
	// ErrTokenNotFound reports that no slot holds a token with the
	// configured label.
	ErrTokenNotFound = errors.New("pkcs11 kms: token not found")
	// ErrNoKEK reports that the token holds no KEK with the configured label
	// and CreateIfMissing is off.
	ErrNoKEK = errors.New("pkcs11 kms: no KEK with this label")
	// ErrDuplicateKEK reports two KEK objects with the same label and
	// version, which would make unwrapping ambiguous.
	ErrDuplicateKEK = errors.New("pkcs11 kms: duplicate KEK")
	// ErrWeakKEK reports a KEK object that is extractable, not sensitive, or
	// not allowed to wrap and unwrap; it is refused rather than used.
	ErrWeakKEK = errors.New("pkcs11 kms: KEK object has unsafe attributes")
	// ErrClosed reports use of a Wrapper after Close.
	ErrClosed = errors.New("pkcs11 kms: closed")
)
