package cenc

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"

	"github.com/drmpipe/drmpipe/internal/enum"
)

// Protector computes the subsample map of one video sample: length-prefixed
// NAL units (NewNALProtector), AV1 OBUs (NewAV1Protector) or VP9 frames and
// superframes (NewVP9Protector). Samples must be given in decode order.
type Protector interface {
	// Subsamples appends the map for sample to dst[:0] and returns it. Errors
	// (wrapping ErrBadSample) name the problem (bad NAL length, slice header
	// parse failure, frame header parse failure...).
	Subsamples(dst []Subsample, sample []byte) ([]Subsample, error)
}

// Codec names a video coding format. NewNALProtector takes H264 and HEVC;
// AV1 and VP9 have their own constructors.
type Codec uint8

// Video codecs.
const (
	H264 Codec = iota + 1 // ISO/IEC 14496-10 (AVC)
	HEVC                  // ISO/IEC 23008-2 (H.265)
	AV1                   // AV1 Bitstream & Decoding Process Specification
	VP9                   // VP9 Bitstream & Decoding Process Specification
)

// String returns the codec name.
func (c Codec) String() string { return codecNames.String(c) }

var codecNames = enum.Names[Codec]{H264: "h264", HEVC: "hevc", AV1: "av1", VP9: "vp9"}

// maxCachedParamSets bounds the raw-bytes caches of in-band parameter sets.
const maxCachedParamSets = 32

// nalProtector implements the subsample rules of ISO/IEC 23001-7 §10.1 and
// §10.4 for NAL-structured video (ISO/IEC 14496-15): the length field, the
// NAL header and the slice header stay clear; non-VCL NAL units stay clear
// and their bytes are merged into the clear part of the next entry. For cenc
// the protected part is trimmed to a multiple of 16 bytes ending at the NAL
// end (CMAF, ISO/IEC 23000-19); for cbcs it is not rounded. The layout is the
// one Shaka Packager and Bento4 produce. Not safe for concurrent use.
type nalProtector struct {
	codec   Codec
	lenSize int
	align   bool

	avcSPS  map[uint32]*avc.SPS
	avcPPS  map[uint32]*avc.PPS
	hevcSPS map[uint32]*hevc.SPS
	hevcPPS map[uint32]*hevc.PPS

	// Raw bytes of parameter sets already parsed, so that avc3/hev1 streams
	// that repeat them in every key frame are not re-parsed.
	spsSeen map[string]any
	ppsSeen map[string]any
}

// NewNALProtector builds a protector for one track. paramSets are the SPS/PPS
// (and VPS for HEVC) NAL units from avcC/hvcC without length prefix.
// nalLengthSize is 1, 2 or 4 (lengthSizeMinusOne+1). SPS/PPS NAL units met
// inside samples (avc3/hev1) are parsed and remembered.
func NewNALProtector(scheme Scheme, codec Codec, nalLengthSize int, paramSets [][]byte) (Protector, error) {
	if scheme != CENC && scheme != CBCS {
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, scheme)
	}
	if codec != H264 && codec != HEVC {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCodec, codec)
	}
	switch nalLengthSize {
	case 1, 2, 4:
	default:
		return nil, fmt.Errorf("%w: NAL length size %d (want 1, 2 or 4)", ErrBadSample, nalLengthSize)
	}
	p := &nalProtector{
		codec:   codec,
		lenSize: nalLengthSize,
		align:   scheme == CENC,
		spsSeen: make(map[string]any),
		ppsSeen: make(map[string]any),
	}
	if codec == H264 {
		p.avcSPS = make(map[uint32]*avc.SPS)
		p.avcPPS = make(map[uint32]*avc.PPS)
	} else {
		p.hevcSPS = make(map[uint32]*hevc.SPS)
		p.hevcPPS = make(map[uint32]*hevc.PPS)
	}
	// A PPS refers to its SPS, so all SPS go first.
	for pass := 0; pass < 2; pass++ {
		for _, ps := range paramSets {
			isSPS, isPPS := p.paramSetKind(ps)
			if (pass == 0 && isSPS) || (pass == 1 && isPPS) {
				if err := p.paramSet(ps); err != nil {
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// paramSetKind reports whether nalu is an SPS or a PPS.
func (p *nalProtector) paramSetKind(nalu []byte) (isSPS, isPPS bool) {
	if len(nalu) == 0 {
		return false, false
	}
	if p.codec == H264 {
		t := avc.GetNaluType(nalu[0])
		return t == avc.NALU_SPS, t == avc.NALU_PPS
	}
	t := hevc.GetNaluType(nalu[0])
	return t == hevc.NALU_SPS, t == hevc.NALU_PPS
}

// paramSet parses an SPS or PPS NAL unit and makes it current.
func (p *nalProtector) paramSet(nalu []byte) error {
	isSPS, _ := p.paramSetKind(nalu)
	seen := p.ppsSeen
	if isSPS {
		seen = p.spsSeen
	}
	if v, ok := seen[string(nalu)]; ok {
		p.install(v)
		return nil
	}
	var v any
	err := guard(func() error {
		var err error
		switch {
		case p.codec == H264 && isSPS:
			v, err = avc.ParseSPSNALUnit(nalu, false)
		case p.codec == H264:
			v, err = avc.ParsePPSNALUnit(nalu, p.avcSPS)
		case isSPS:
			v, err = hevc.ParseSPSNALUnit(nalu)
		default:
			v, err = hevc.ParsePPSNALUnit(nalu, p.hevcSPS)
		}
		return err
	})
	if err != nil {
		kind := "PPS"
		if isSPS {
			kind = "SPS"
		}
		return fmt.Errorf("%w: %v %s: %w", ErrParameterSet, p.codec, kind, err)
	}
	if len(seen) >= maxCachedParamSets {
		clear(seen)
	}
	if isSPS {
		// A cached PPS was parsed against an older SPS; parse PPS anew.
		clear(p.ppsSeen)
	}
	seen[string(nalu)] = v
	p.install(v)
	return nil
}

// install makes a parsed parameter set current under its ID.
func (p *nalProtector) install(v any) {
	switch ps := v.(type) {
	case *avc.SPS:
		p.avcSPS[ps.ParameterID] = ps
	case *avc.PPS:
		p.avcPPS[ps.PicParameterSetID] = ps
	case *hevc.SPS:
		p.hevcSPS[uint32(ps.SpsID)] = ps
	case *hevc.PPS:
		p.hevcPPS[ps.PicParameterSetID] = ps
	}
}

// guard runs f, turning a panic of the third-party parser into an error so
// that malformed input never crashes the packager.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	return f()
}

// Subsamples implements Protector.
func (p *nalProtector) Subsamples(dst []Subsample, sample []byte) ([]Subsample, error) {
	b := newSubsampleBuilder(dst, p.align)
	pos := 0
	for pos < len(sample) {
		if len(sample)-pos < p.lenSize {
			return dst[:0], fmt.Errorf("%w: %d trailing bytes at offset %d, shorter than the %d-byte NAL length field",
				ErrBadSample, len(sample)-pos, pos, p.lenSize)
		}
		var n uint64
		for _, c := range sample[pos : pos+p.lenSize] {
			n = n<<8 | uint64(c)
		}
		pos += p.lenSize
		if n > uint64(len(sample)-pos) {
			return dst[:0], fmt.Errorf("%w: NAL length %d at offset %d exceeds the %d bytes left in the sample",
				ErrBadSample, n, pos-p.lenSize, len(sample)-pos)
		}
		nalu := sample[pos : pos+int(n)]
		hdr, err := p.clearHeaderSize(nalu)
		if err != nil {
			return dst[:0], fmt.Errorf("%w: NAL unit at offset %d: %w", ErrBadSample, pos-p.lenSize, err)
		}
		b.add(uint64(p.lenSize+hdr), uint64(len(nalu)-hdr))
		pos += int(n)
	}
	return b.finish(), nil
}

// clearHeaderSize returns how many leading bytes of nalu stay clear: all of
// a non-slice NAL unit; the NAL header plus the slice header (with its
// emulation-prevention bytes) of a slice. It also takes in-band parameter
// sets.
func (p *nalProtector) clearHeaderSize(nalu []byte) (int, error) {
	if len(nalu) == 0 {
		return 0, nil
	}
	var sliceHeader func() (uint32, error) // nil: the NAL unit stays clear
	if p.codec == H264 {
		switch avc.GetNaluType(nalu[0]) {
		case avc.NALU_SPS, avc.NALU_PPS:
			return len(nalu), p.paramSet(nalu)
		case avc.NALU_NON_IDR, avc.NALU_IDR:
			// Only coded slices (types 1 and 5) are protected; data
			// partitions and extensions stay clear, as in Shaka Packager.
			sliceHeader = func() (uint32, error) {
				sh, err := avc.ParseSliceHeader(nalu, p.avcSPS, p.avcPPS)
				if err != nil {
					return 0, err
				}
				return sh.Size, nil
			}
		default:
			// Other NAL units (SEI, AUD, end of sequence, ...) stay clear.
		}
	} else {
		t := hevc.GetNaluType(nalu[0])
		switch {
		case t == hevc.NALU_SPS || t == hevc.NALU_PPS:
			return len(nalu), p.paramSet(nalu)
		case t < 32 && len(nalu) >= 2:
			// VCL NAL unit types 0..31 (ISO/IEC 23008-2 Table 7-1).
			sliceHeader = func() (uint32, error) {
				sh, err := hevc.ParseSliceHeader(nalu, p.hevcSPS, p.hevcPPS)
				if err != nil {
					return 0, err
				}
				return sh.Size, nil
			}
		}
	}
	if sliceHeader == nil {
		return len(nalu), nil
	}
	var size uint32
	if err := guard(func() (err error) {
		size, err = sliceHeader()
		return err
	}); err != nil {
		return 0, fmt.Errorf("slice header: %w", err)
	}
	return min(int(size), len(nalu)), nil
}
