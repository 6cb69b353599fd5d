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

// subsampleBuilder turns a sample's runs of (clear, protected) bytes into a
// subsample map: clear runs without protected bytes merge into the next
// entry, and with align the protected part of each run is trimmed to whole
// 16-byte blocks, the remainder joining the clear bytes in front (ISO/IEC
// 23001-7 §10.1 and CMAF ISO/IEC 23000-19 for cenc video; the VP codec
// binding for VP9 under every scheme). This is the layout Shaka Packager
// writes.
type subsampleBuilder struct {
	dst      []Subsample
	clearRun uint64 // clear bytes not yet written to an entry
	align    bool
}

func newSubsampleBuilder(dst []Subsample, align bool) subsampleBuilder {
	return subsampleBuilder{dst: dst[:0], align: align}
}

// add appends one run: clear bytes followed by protected bytes.
func (b *subsampleBuilder) add(clear, protected uint64) {
	b.clearRun += clear
	if b.align {
		b.clearRun += protected % 16
		protected -= protected % 16
	}
	if protected > 0 {
		b.dst = appendSubsample(b.dst, b.clearRun, protected)
		b.clearRun = 0
	}
}

// finish writes the trailing clear bytes and returns the map.
func (b *subsampleBuilder) finish() []Subsample {
	if b.clearRun > 0 {
		b.dst = appendSubsample(b.dst, b.clearRun, 0)
		b.clearRun = 0
	}
	return b.dst
}
