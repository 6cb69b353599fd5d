// Package kms declares how the key store reaches a key-encryption key (KEK)
// that it never holds in clear: envelope encryption, where each content key
// is stored only wrapped by a KEK kept by a KMS backend (keys/kms/local, and
// later pkcs11 and awskms).
package kms

import (
	"context"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Wrapper wraps and unwraps content keys with a KEK it keeps to itself.
//
// The KID and the content ID are bound to the wrapped key (as associated data
// or an encryption context), so a wrapped key moved to another row does not
// unwrap. keyRef names the KEK version that wrapped the key; Unwrap uses it to
// pick the KEK, so keys wrapped under an older KEK stay readable after a
// rotation until they are re-wrapped.
//
// Implementations never return or log clear key material in errors, and never
// fall back to anything when the KEK is missing, wrong or unreachable: they
// fail with an error wrapping one of this package's sentinels.
type Wrapper interface {
	Wrap(ctx context.Context, kid drm.KeyID, contentID string, key []byte) (wrapped []byte, keyRef string, err error)
	Unwrap(ctx context.Context, kid drm.KeyID, contentID string, wrapped []byte, keyRef string) ([]byte, error)
	// Name is the backend name stored next to each wrapped key ("local", ...).
	Name() string
}

// Versioned is implemented by wrappers that can tell which KEK version Wrap
// uses now, so a re-wrap can skip keys that are already under it.
type Versioned interface {
	CurrentKeyRef(ctx context.Context) (string, error)
}

// Rotator is implemented by wrappers that make a new KEK version current
// themselves (a local KEK file, a PKCS#11 token); keys wrapped under older
// versions stay readable until re-wrapped. Backends without it (AWS KMS)
// rotate outside drmpipe, by pointing their key alias at a new key.
type Rotator interface {
	// RotateKEK makes a new KEK version current and returns its key ref.
	RotateKEK(ctx context.Context) (keyRef string, err error)
}
