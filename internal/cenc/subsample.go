package cenc

import "fmt"

// Subsample is one entry of a senc subsample map (ISO/IEC 23001-7 §7.2).
type Subsample struct {
	Clear     uint16 // BytesOfClearData
	Protected uint32 // BytesOfProtectedData
}

// Pattern is crypt:skip in 16-byte blocks (tenc default_crypt_byte_block/skip).
type Pattern struct{ Crypt, Skip uint8 }

// String returns "crypt:skip".
func (p Pattern) String() string { return fmt.Sprintf("%d:%d", p.Crypt, p.Skip) }

// patternVideo is the cbcs video pattern recommended by ISO/IEC 23001-7 §10.4.
var patternVideo = Pattern{Crypt: 1, Skip: 9}

// checkSubsamples verifies that subs covers exactly n bytes
// (ISO/IEC 23001-7 §7.2: the clear and protected sizes of all subsamples
// add up to the sample size).
func checkSubsamples(subs []Subsample, n int) error {
	var sum uint64
	for _, s := range subs {
		sum += uint64(s.Clear) + uint64(s.Protected)
	}
	if sum != uint64(n) {
		return fmt.Errorf("%w: subsamples sum to %d bytes, sample has %d", ErrSubsamples, sum, n)
	}
	return nil
}

// appendSubsample appends (clear, protected), first splitting off clear runs
// longer than BytesOfClearData can hold as (65535, 0) entries.
func appendSubsample(dst []Subsample, clear, protected uint64) []Subsample {
	for clear > 0xffff {
		dst = append(dst, Subsample{Clear: 0xffff})
		clear -= 0xffff
	}
	return append(dst, Subsample{Clear: uint16(clear), Protected: uint32(protected)})
}
