package cenc

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// cbcState is the scratch state of a hand-rolled AES-CBC chain. It lives in
// the Encryptor/Decryptor (not on the stack) so that passing its slices to
// the cipher.Block interface does not allocate.
type cbcState struct {
	block cipher.Block
	iv    [16]byte // constant IV (ISO/IEC 23001-7 §10.4)
	prev  [16]byte // previous ciphertext block of the running chain
	tmp   [16]byte
}

// encryptBlocks CBC-encrypts data (a multiple of 16 bytes) in place,
// continuing the chain in s.prev. The XOR with the previous ciphertext is
// done on two 64-bit words held in registers.
func (s *cbcState) encryptBlocks(data []byte) {
	p0 := binary.LittleEndian.Uint64(s.prev[:8])
	p1 := binary.LittleEndian.Uint64(s.prev[8:])
	for i := 0; i+16 <= len(data); i += 16 {
		blk := data[i : i+16 : i+16]
		binary.LittleEndian.PutUint64(blk[:8], binary.LittleEndian.Uint64(blk[:8])^p0)
		binary.LittleEndian.PutUint64(blk[8:], binary.LittleEndian.Uint64(blk[8:])^p1)
		s.block.Encrypt(blk, blk)
		p0 = binary.LittleEndian.Uint64(blk[:8])
		p1 = binary.LittleEndian.Uint64(blk[8:])
	}
	binary.LittleEndian.PutUint64(s.prev[:8], p0)
	binary.LittleEndian.PutUint64(s.prev[8:], p1)
}

// decryptBlocks CBC-decrypts data (a multiple of 16 bytes) in place,
// continuing the chain in s.prev.
func (s *cbcState) decryptBlocks(data []byte) {
	for i := 0; i+16 <= len(data); i += 16 {
		blk := data[i : i+16 : i+16]
		copy(s.tmp[:], blk)
		s.block.Decrypt(blk, blk)
		subtle.XORBytes(blk, blk, s.prev[:])
		s.prev = s.tmp
	}
}

// cryptRange applies cbcs to one protected range (ISO/IEC 23001-7 §10.4,
// §9.6): the CBC chain starts from the constant IV at the start of every
// protected range; with a pattern, crypt blocks are chained and skip blocks
// stay clear; an incomplete final crypt block stays clear. Pattern 0:0 means
// whole-block full-range encryption with the trailing partial block clear.
func (s *cbcState) cryptRange(data []byte, p Pattern, decrypt bool) {
	s.prev = s.iv
	crypt := int(p.Crypt) * 16
	if crypt == 0 {
		n := len(data) &^ 15
		if decrypt {
			s.decryptBlocks(data[:n])
		} else {
			s.encryptBlocks(data[:n])
		}
		return
	}
	skip := int(p.Skip) * 16
	pos := 0
	for len(data)-pos >= crypt {
		if decrypt {
			s.decryptBlocks(data[pos : pos+crypt])
		} else {
			s.encryptBlocks(data[pos : pos+crypt])
		}
		pos += crypt
		pos += min(skip, len(data)-pos)
	}
}

// cryptSample applies cryptRange to every protected range of sample, or to
// the whole sample when subs is empty (full-sample encryption, §10.4 for audio).
func (s *cbcState) cryptSample(sample []byte, subs []Subsample, p Pattern, decrypt bool) {
	forProtected(sample, subs, func(r []byte) { s.cryptRange(r, p, decrypt) })
}

// ctrSample XORs the protected ranges of sample (or all of it when subs is
// empty) with one AES-CTR keystream that runs on across subsamples
// (ISO/IEC 23001-7 §10.1). Encryption and decryption are the same operation.
func ctrSample(block cipher.Block, counter []byte, sample []byte, subs []Subsample) {
	stream := cipher.NewCTR(block, counter)
	forProtected(sample, subs, func(r []byte) { stream.XORKeyStream(r, r) })
}

// forProtected calls fn on each protected range of sample in order, or once
// on the whole sample when subs is empty (ISO/IEC 23001-7 §7.2: the
// subsample map splits a sample into clear and protected byte ranges).
func forProtected(sample []byte, subs []Subsample, fn func([]byte)) {
	if len(subs) == 0 {
		fn(sample)
		return
	}
	pos := 0
	for _, ss := range subs {
		pos += int(ss.Clear)
		if n := int(ss.Protected); n > 0 {
			fn(sample[pos : pos+n])
			pos += n
		}
	}
}
