package cenc

import (
	"crypto/aes"
	"fmt"
)

// Decryptor decrypts samples protected with one key; it is the inverse of
// Encryptor, for `drmpipe verify` and tests. Not safe for concurrent use.
type Decryptor struct {
	scheme  Scheme
	pattern Pattern
	cbc     cbcState
	ctr     [16]byte
}

// NewDecryptor returns a Decryptor. pattern is the tenc crypt:skip; it must be
// 0:0 for cenc (pattern cenc is the 'cens' scheme, not supported). For cbcs,
// 0:0 means whole-block full-range CBC and Crypt must be non-zero otherwise.
func NewDecryptor(scheme Scheme, key []byte, pattern Pattern) (*Decryptor, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(key))
	}
	switch scheme {
	case CENC:
		if pattern != (Pattern{}) {
			return nil, fmt.Errorf("%w: cenc takes no pattern, got %v", ErrPattern, pattern)
		}
	case CBCS:
		// tenc carries crypt and skip in 4 bits each (ISO/IEC 23001-7 §8.2).
		if pattern.Crypt > 15 || pattern.Skip > 15 || (pattern.Crypt == 0 && pattern.Skip != 0) {
			return nil, fmt.Errorf("%w: %v", ErrPattern, pattern)
		}
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, scheme)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySize, err)
	}
	d := &Decryptor{scheme: scheme, pattern: pattern}
	d.cbc.block = block
	return d, nil
}

// DecryptSample decrypts sample in place. iv is the per-sample IV (8 or 16
// bytes) for cenc and the constant IV (16 bytes) for cbcs. subs nil or empty
// means full-sample encryption.
func (d *Decryptor) DecryptSample(sample []byte, iv []byte, subs []Subsample) error {
	if len(subs) > 0 {
		if err := checkSubsamples(subs, len(sample)); err != nil {
			return err
		}
	}
	switch d.scheme {
	case CENC:
		if len(iv) != 8 && len(iv) != 16 {
			return fmt.Errorf("%w: cenc IV must be 8 or 16 bytes, got %d", ErrIVSize, len(iv))
		}
		// An 8-byte IV is the high half of the counter block (§10.1).
		d.ctr = [16]byte{}
		copy(d.ctr[:], iv)
		ctrSample(d.cbc.block, d.ctr[:], sample, subs)
	default:
		if len(iv) != 16 {
			return fmt.Errorf("%w: cbcs IV must be 16 bytes, got %d", ErrIVSize, len(iv))
		}
		copy(d.cbc.iv[:], iv)
		d.cbc.cryptSample(sample, subs, d.pattern, true)
	}
	return nil
}
