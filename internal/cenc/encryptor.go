package cenc

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
)

// Encryptor encrypts the samples of one track with one key. Not safe for
// concurrent use; cheap to create.
//
// Scheme CENC (ISO/IEC 23001-7 §10.1): iv is the 8-byte per-sample IV of the
// first sample; each EncryptSample uses the current IV and then adds 1 to it
// (64-bit big-endian, wrapping). The AES-CTR counter block is
// IV || 0x0000000000000000 and the keystream runs on across the protected
// ranges of one sample.
//
// Scheme CBCS (§10.4): iv is the 16-byte constant IV. Video uses the 1:9
// pattern, audio 0:0 (whole blocks, full sample). The CBC chain restarts with
// the constant IV at every subsample's protected range and a trailing
// partial block stays clear (§9.6).
type Encryptor struct {
	scheme  Scheme
	pattern Pattern
	cbc     cbcState // block cipher (created once) and CBC scratch
	ctr     [16]byte // cenc counter block: per-sample IV || 64-bit block counter
}

// NewEncryptor returns an Encryptor for one track. key must be 16 bytes;
// iv must be 8 bytes for CENC and 16 bytes for CBCS. video selects the cbcs
// 1:9 pattern.
func NewEncryptor(scheme Scheme, key, iv []byte, video bool) (*Encryptor, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(key))
	}
	e := &Encryptor{scheme: scheme}
	switch scheme {
	case CENC:
		// CMAF (ISO/IEC 23000-19) requires 8-byte IVs for cenc.
		if len(iv) != 8 {
			return nil, fmt.Errorf("%w: cenc needs an 8-byte per-sample IV, got %d bytes", ErrIVSize, len(iv))
		}
		copy(e.ctr[:8], iv)
	case CBCS:
		if len(iv) != 16 {
			return nil, fmt.Errorf("%w: cbcs needs a 16-byte constant IV, got %d bytes", ErrIVSize, len(iv))
		}
		copy(e.cbc.iv[:], iv)
		if video {
			e.pattern = patternVideo
		}
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, scheme)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySize, err)
	}
	e.cbc.block = block
	return e, nil
}

// Scheme returns the protection scheme.
func (e *Encryptor) Scheme() Scheme { return e.scheme }

// Pattern returns the tenc crypt:skip pattern: 1:9 for cbcs video, 0:0
// otherwise (ISO/IEC 23001-7 §8.2).
func (e *Encryptor) Pattern() Pattern { return e.pattern }

// PerSampleIVSize returns the tenc default_Per_Sample_IV_Size: 8 for cenc,
// 0 for cbcs (constant IV).
func (e *Encryptor) PerSampleIVSize() int {
	if e.scheme == CENC {
		return 8
	}
	return 0
}

// EncryptSample encrypts sample in place. subs nil or empty means full-sample
// encryption (audio). It returns a copy of the 8-byte per-sample IV used for
// cenc, nil for cbcs. It fails, leaving sample untouched, if subs do not add
// up to len(sample).
func (e *Encryptor) EncryptSample(sample []byte, subs []Subsample) ([]byte, error) {
	if len(subs) > 0 {
		if err := checkSubsamples(subs, len(sample)); err != nil {
			return nil, err
		}
	}
	if e.scheme == CBCS {
		e.cbc.cryptSample(sample, subs, e.pattern, false)
		return nil, nil
	}
	iv := make([]byte, 8)
	copy(iv, e.ctr[:8])
	// e.ctr[8:] stays zero: the block counter starts at 0 for every sample.
	ctrSample(e.cbc.block, e.ctr[:], sample, subs)
	// Next sample's IV = IV + 1 (ISO/IEC 23001-7 §10.1 recommends
	// incrementing 8-byte IVs per sample).
	binary.BigEndian.PutUint64(e.ctr[:8], binary.BigEndian.Uint64(e.ctr[:8])+1)
	return iv, nil
}
