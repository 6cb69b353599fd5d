package kms

import "errors"

// Sentinel errors shared by all KMS backends. Backends wrap them with %w and
// detail (never key material).
var (
	// ErrUnwrap reports a wrapped key that fails authentication: wrong KEK,
	// tampered bytes, or a KID/content ID that is not the one it was wrapped for.
	ErrUnwrap = errors.New("kms: cannot unwrap key")
	// ErrUnknownKeyRef reports a key wrapped under a KEK version this KMS
	// does not hold.
	ErrUnknownKeyRef = errors.New("kms: unknown KEK version")
	// ErrBadInput reports a key or wrapped blob of the wrong size.
	ErrBadInput = errors.New("kms: bad input")
	// ErrUnavailable reports a KMS that cannot be reached or refuses to work.
	ErrUnavailable = errors.New("kms: unavailable")
	// ErrNoRotation reports a backend that does not rotate its KEK itself
	// (it is not a Rotator).
	ErrNoRotation = errors.New("kms: backend does not rotate its KEK itself")
)
