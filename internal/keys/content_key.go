package keys

import (
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// ContentKey is a 16-byte AES content key with its key ID. IV, when set, is
// the constant IV to use with the key (cbcs, and FairPlay key delivery).
type ContentKey struct {
	KID drm.KeyID
	Key []byte
	IV  []byte
}

// Validate checks sizes.
func (k ContentKey) Validate() error {
	if len(k.Key) != 16 {
		return fmt.Errorf("%w: key for KID %s has %d bytes", ErrKeySize, k.KID, len(k.Key))
	}
	if k.IV != nil && len(k.IV) != 8 && len(k.IV) != 16 {
		return fmt.Errorf("%w: IV for KID %s has %d bytes (want 8 or 16)", ErrIVSize, k.KID, len(k.IV))
	}
	return nil
}

// String never prints key material.
func (k ContentKey) String() string { return "ContentKey{KID:" + k.KID.String() + "}" }

// GoString never prints key material.
func (k ContentKey) GoString() string { return k.String() }
