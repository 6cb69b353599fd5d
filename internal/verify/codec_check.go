package verify

import "fmt"

// validateNALs checks that length-prefixed NAL units (ISO/IEC 14496-15 §5.3.2)
// fill the sample exactly and that each NAL header has forbidden_zero_bit 0
// (ISO/IEC 14496-10 §7.3.1, ISO/IEC 23008-2 §7.3.1.2).
func validateNALs(b []byte, lenSize int, avc bool) string {
	if lenSize < 1 || lenSize > 4 {
		return ""
	}
	for off := 0; off < len(b); {
		if len(b)-off < lenSize {
			return fmt.Sprintf("%d trailing bytes after the last NAL unit", len(b)-off)
		}
		n := 0
		for i := 0; i < lenSize; i++ {
			n = n<<8 | int(b[off+i])
		}
		off += lenSize
		if n == 0 || n > len(b)-off {
			return fmt.Sprintf("NAL length %d at offset %d does not fit the sample (%d bytes)", n, off-lenSize, len(b))
		}
		if b[off]&0x80 != 0 {
			return fmt.Sprintf("NAL at offset %d has forbidden_zero_bit set", off)
		}
		if !avc && n < 2 {
			return "HEVC NAL shorter than its 2-byte header"
		}
		off += n
	}
	return ""
}

// AAC syntactic element IDs (ISO/IEC 14496-3 §4.5.2.1 Table 4.85).
const (
	idSCE = 0
	idCPE = 1
	idLFE = 3
)

// validateAAC checks the start of a raw_data_block (ISO/IEC 14496-3
// §4.4.2.1): the first element must be the channel element the channel
// configuration implies (SCE or LFE for mono, CPE for stereo; any of them
// otherwise), and its ics_info must be valid: ics_reserved_bit 0, no
// predictor data for AAC-LC, max_sfb not above the band count (§4.5.4).
// DSE/FIL first elements are accepted unchecked; CCE/PCE first are rejected
// (encoders do not start mono/stereo frames with them). Frames shorter
// than 3 bytes are accepted.
func validateAAC(b []byte, objectType, chanCfg byte, sampleRate int) string {
	if len(b) < 3 {
		return ""
	}
	r := bitReader{b: b}
	id := r.read(3)
	switch id {
	case idSCE, idLFE:
		if chanCfg == 2 {
			return fmt.Sprintf("first element %d in a stereo stream, want CPE", id)
		}
		r.read(4) // element_instance_tag
		r.read(8) // global_gain
	case idCPE:
		if chanCfg == 1 {
			return "CPE in a mono stream"
		}
		r.read(4)
		if r.read(1) == 0 { // common_window = 0: individual_channel_stream
			r.read(8)
		}
	case 4, 6: // DSE, FIL: legal first elements, not checked further
		return ""
	default:
		return fmt.Sprintf("first syntactic element %d is not a channel element", id)
	}
	// ics_info
	if r.read(1) != 0 {
		return "ics_reserved_bit set"
	}
	seq := r.read(2)
	r.read(1)     // window_shape
	if seq == 2 { // EIGHT_SHORT_SEQUENCE
		if maxSFB := r.read(4); maxSFB > 15 {
			return fmt.Sprintf("max_sfb %d too large for short windows", maxSFB)
		}
		return ""
	}
	maxSFB := r.read(6)
	if n := longBands(sampleRate); n > 0 && maxSFB > n {
		return fmt.Sprintf("max_sfb %d exceeds %d scale factor bands", maxSFB, n)
	}
	if r.read(1) != 0 && objectType == 2 {
		return "predictor_data_present in AAC-LC"
	}
	if r.err {
		return "truncated"
	}
	return ""
}

// swbLongWindow is num_swb_long_window per sampling rate (ISO/IEC 14496-3
// §4.5.4, Tables 4.129–4.138), highest rate first: a rate takes the first
// row whose minRate it reaches.
var swbLongWindow = [...]struct{ minRate, bands int }{
	{88200, 41}, {64000, 47}, {44100, 49}, {32000, 51}, {22050, 47}, {11025, 43}, {8000, 40},
}

// longBands is num_swb_long_window for rate; 0 below 8000 Hz.
func longBands(rate int) int {
	for _, r := range swbLongWindow {
		if rate >= r.minRate {
			return r.bands
		}
	}
	return 0
}

type bitReader struct {
	b   []byte
	pos int
	err bool
}

func (r *bitReader) read(n int) int {
	v := 0
	for i := 0; i < n; i++ {
		byteIdx := r.pos >> 3
		if byteIdx >= len(r.b) {
			r.err = true
			return v
		}
		v = v<<1 | int(r.b[byteIdx]>>(7-uint(r.pos&7)))&1
		r.pos++
	}
	return v
}
