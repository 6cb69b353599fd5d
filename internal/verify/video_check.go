package verify

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
)

// videoSyntax checks decrypted H.264 / HEVC samples beyond the NAL length
// framing: NAL unit types, parameter set references and slice headers
// (ITU-T H.264 §7.3.3, H.265 §7.3.6), and constraints that a conformant
// NAL unit always meets but random bytes (slice data decrypted with a wrong
// key) break:
//
//   - the last byte of a NAL unit is never 0x00 (H.264 §7.4.1, H.265
//     §7.4.2: it holds the rbsp_stop_one_bit of rbsp_trailing_bits(),
//     H.264 §7.3.2.11, H.265 §7.3.2.11, or ends a cabac_zero_word 0x000003);
//   - no 0x000000, 0x000001, 0x000002 and no 0x000003 followed by a byte
//     above 0x03 inside a NAL unit (emulation prevention, same clauses);
//   - where CABAC starts (H.264 slice data with entropy_coding_mode_flag,
//     each HEVC slice segment substream at its entry point), the first nine
//     bits, the initial codIOffset / ivlOffset, are not 510 or 511 (H.264
//     §9.3.1.2, H.265 §9.3.2.5), and the byte before an HEVC entry point
//     ends a substream with byte_alignment(), so it is not 0x00.
//
// Each constraint is broken by random bytes with probability about 1/256
// per check, and never by a conformant stream, so the rule is: any breach in
// a decrypted sample is a problem. With a wrong key a long asset fails with
// near certainty (1-(255/256)^n over n checks); a short one may pass: the
// slice headers stay in the clear in cenc and cbcs (ISO/IEC 23001-7 §9.5,
// §10.2), and proving a key on every slice would need an entropy decoder.
type videoSyntax struct {
	hevc    bool
	avcSPS  map[uint32]*avc.SPS
	avcPPS  map[uint32]*avc.PPS
	hevcSPS map[uint32]*hevc.SPS
	hevcPPS map[uint32]*hevc.PPS
}

func newVideoSyntax(isHEVC bool, sps, pps [][]byte) *videoSyntax {
	v := &videoSyntax{hevc: isHEVC, avcSPS: map[uint32]*avc.SPS{}, avcPPS: map[uint32]*avc.PPS{},
		hevcSPS: map[uint32]*hevc.SPS{}, hevcPPS: map[uint32]*hevc.PPS{}}
	for _, n := range sps {
		v.parameterSet(n, true)
	}
	for _, n := range pps {
		v.parameterSet(n, false)
	}
	return v
}

// parameterSet records an SPS or PPS (from the sample entry or in-band).
func (v *videoSyntax) parameterSet(n []byte, isSPS bool) {
	defer func() { _ = recover() }() // a parameter set mp4ff cannot parse is simply unknown
	switch {
	case v.hevc && isSPS:
		if s, err := hevc.ParseSPSNALUnit(n); err == nil {
			v.hevcSPS[uint32(s.SpsID)] = s
		}
	case v.hevc:
		if p, err := hevc.ParsePPSNALUnit(n, v.hevcSPS); err == nil {
			v.hevcPPS[p.PicParameterSetID] = p
		}
	case isSPS:
		if s, err := avc.ParseSPSNALUnit(n, false); err == nil {
			v.avcSPS[s.ParameterID] = s
		}
	default:
		if p, err := avc.ParsePPSNALUnit(n, v.avcSPS); err == nil {
			v.avcPPS[p.PicParameterSetID] = p
		}
	}
}

// nal checks one NAL unit; "" means plausible.
func (v *videoSyntax) nal(n []byte) (msg string) {
	var sps, pps bool // only parameter sets are collected
	if v.hevc {
		if len(n) < 2 {
			return "HEVC NAL shorter than its 2-byte header"
		}
		typ := hevc.GetNaluType(n[0])
		if n[1]&7 == 0 {
			return fmt.Sprintf("HEVC NAL type %d with nuh_temporal_id_plus1 0", typ)
		}
		if typ >= 41 {
			return fmt.Sprintf("HEVC NAL type %d is reserved or unspecified (H.265 Table 7-1)", typ)
		}
		sps, pps = typ == hevc.NALU_SPS, typ == hevc.NALU_PPS
	} else {
		typ := avc.GetNaluType(n[0])
		if typ == 0 || typ >= 24 {
			return fmt.Sprintf("H.264 NAL type %d is unspecified (H.264 Table 7-1)", typ)
		}
		sps, pps = typ == avc.NALU_SPS, typ == avc.NALU_PPS
	}
	if sps || pps {
		v.parameterSet(n, sps)
	}
	if n[len(n)-1] == 0 {
		return "NAL unit ends in 0x00 (no rbsp_stop_one_bit)"
	}
	if i := emulationBreach(n); i >= 0 {
		return fmt.Sprintf("start code emulation at NAL byte %d", i)
	}
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("slice header does not parse: %v", r)
		}
	}()
	if v.hevc {
		return v.hevcSlice(n)
	}
	return v.avcSlice(n)
}

// emulationBreach returns the offset of a forbidden three-byte sequence
// (H.264 §7.4.1, H.265 §7.4.2), or -1.
func emulationBreach(n []byte) int {
	for i := 0; i+2 < len(n); i++ {
		if n[i] != 0 || n[i+1] != 0 {
			continue
		}
		if n[i+2] <= 2 || n[i+2] == 3 && i+3 < len(n) && n[i+3] > 3 {
			return i
		}
	}
	return -1
}

func (v *videoSyntax) avcSlice(n []byte) string {
	typ := avc.GetNaluType(n[0])
	if typ != avc.NALU_NON_IDR && typ != avc.NALU_IDR {
		return ""
	}
	sh, err := avc.ParseSliceHeader(n, v.avcSPS, v.avcPPS)
	if err != nil {
		return fmt.Sprintf("slice header does not parse: %v", err)
	}
	if sh.SliceType > 9 {
		return fmt.Sprintf("slice_type %d out of range", sh.SliceType)
	}
	pps := v.avcPPS[sh.PicParamID]
	sps := v.avcSPS[uint32(pps.SeqParameterSetID)]
	mbs := (sps.Width / 16) * (sps.Height / 16) // mp4ff: uncropped size, both fields
	if uint(sh.FirstMBInSlice) >= mbs {
		return fmt.Sprintf("first_mb_in_slice %d beyond %d macroblocks", sh.FirstMBInSlice, mbs)
	}
	if int(sh.Size) >= len(n) {
		return "slice header fills the whole NAL unit"
	}
	// CABAC slice data starts at the byte after the slice header and its
	// cabac_alignment_one_bits (H.264 §7.3.4).
	if pps.EntropyCodingModeFlag && !cabacStartOK(n, int(sh.Size)) {
		return "CABAC slice data starts with codIOffset 510 or 511"
	}
	return ""
}

func (v *videoSyntax) hevcSlice(n []byte) string {
	if hevc.GetNaluType(n[0]) > hevc.NALU_CRA {
		return "" // not a VCL NAL unit
	}
	sh, err := hevc.ParseSliceHeader(n, v.hevcSPS, v.hevcPPS)
	if err != nil {
		return fmt.Sprintf("slice header does not parse: %v", err)
	}
	if sh.SliceType > 2 {
		return fmt.Sprintf("slice_type %d out of range", sh.SliceType)
	}
	// Substreams start at the entry points (H.265 §7.4.7.1: offsets count
	// slice segment data bytes, emulation prevention bytes included).
	start := int(sh.Size)
	for i := 0; ; i++ {
		if start >= len(n) {
			return fmt.Sprintf("entry point %d at byte %d beyond the NAL unit (%d bytes)", i, start, len(n))
		}
		if !cabacStartOK(n, start) {
			return fmt.Sprintf("substream %d starts with ivlOffset 510 or 511", i)
		}
		if i >= len(sh.EntryPointOffsetMinus1) {
			return ""
		}
		start += int(sh.EntryPointOffsetMinus1[i]) + 1
		if start <= len(n) && n[start-1] == 0 {
			return fmt.Sprintf("substream %d does not end with byte_alignment()", i)
		}
	}
}

// cabacStartOK checks the first nine bits of arithmetic-coded data at
// n[off:] (read as codIOffset / ivlOffset): 510 and 511 are forbidden.
// Data with an emulation prevention byte in those bits is not checked.
func cabacStartOK(n []byte, off int) bool {
	if off+2 > len(n) || off >= 2 && n[off-2] == 0 && n[off-1] == 0 || off >= 1 && n[off-1] == 0 && n[off] == 0 {
		return true
	}
	return int(n[off])<<1|int(n[off+1]>>7) < 510
}
