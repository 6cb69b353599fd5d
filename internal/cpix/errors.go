package cpix

import "errors"

// Sentinel errors of package cpix. Every error returned by this package wraps
// one of them, with detail naming the element or attribute concerned. Errors
// never carry key material.
var (
	// ErrInvalid reports a document that is not well-formed CPIX: a missing
	// mandatory attribute, a value that does not parse, a wrong root.
	ErrInvalid = errors.New("invalid CPIX document")
	// ErrUnsafe reports XML refused for safety: a DTD or entity declaration,
	// processing instructions, nesting deeper than the limit, too many
	// elements.
	ErrUnsafe = errors.New("unsafe XML refused")
	// ErrTooLarge reports a document over the caller's size limit.
	ErrTooLarge = errors.New("CPIX document too large")
	// ErrEncryption reports a failure to encrypt content keys for a recipient
	// (bad certificate, unsupported public key).
	ErrEncryption = errors.New("CPIX key encryption failed")
	// ErrDecryption reports encrypted keys that cannot be decrypted: no
	// matching DeliveryData, wrong private key, bad padding, wrong sizes.
	ErrDecryption = errors.New("CPIX key decryption failed")
	// ErrMAC reports a ValueMAC that does not match its encrypted value: the
	// document was tampered with or corrupted. Nothing is decrypted then.
	ErrMAC = errors.New("CPIX ValueMAC mismatch")
)
