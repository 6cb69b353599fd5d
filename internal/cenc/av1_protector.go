package cenc

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/av1"
)

// av1Protector implements subsample encryption of AV1 samples as the AV1
// Codec ISO Media File Format Binding §"Common Encryption" (Subsample
// Encryption) requires: only the tile data (decode_tile) of OBU_TILE_GROUP
// and OBU_FRAME OBUs is protected; OBU headers and size fields, the frame
// header of OBU_FRAME, tile group headers and tile size fields, and every
// other OBU (sequence header, temporal delimiter, frame header, metadata,
// padding) stay clear. Each tile is one protected range. For cenc the range
// is trimmed to whole 16-byte blocks (CMAF, ISO/IEC 23000-19; the binding
// has the same rule); for cbcs it starts at the first byte of the tile and
// is not rounded (ISO/IEC 23001-7 §10.4). The layout is the one Shaka
// Packager writes. Not safe for concurrent use.
type av1Protector struct {
	align  bool
	seqRaw []byte // payload of the sequence header the decoder was built on
	dec    *av1.FrameHeaderDecoder
}

// NewAV1Protector builds a protector for one AV1 track. configOBUs is the
// configOBUs field of av1C (it normally holds the sequence header); an empty
// one means the first sample must carry the sequence header.
func NewAV1Protector(scheme Scheme, configOBUs []byte) (Protector, error) {
	if scheme != CENC && scheme != CBCS {
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, scheme)
	}
	p := &av1Protector{align: scheme == CENC}
	if len(configOBUs) > 0 {
		if err := p.sequenceHeaders(configOBUs); err != nil {
			return nil, fmt.Errorf("%w: av1C configOBUs: %w", ErrParameterSet, err)
		}
	}
	return p, nil
}

// sequenceHeaders takes the sequence header OBUs of data (an av1C
// configOBUs field or a sample): a new or changed one starts a new frame
// header decoder (AV1 §7.5: a changed sequence header starts a new coded
// video sequence, whose first frame is a key frame).
func (p *av1Protector) sequenceHeaders(data []byte) error {
	var obus []av1.OBU
	err := guard(func() error {
		var err error
		obus, err = av1.SplitOBUs(data)
		return err
	})
	if err != nil {
		return err
	}
	for _, o := range obus {
		if o.Header.Type != av1.OBUSequenceHeader || bytes.Equal(o.Payload, p.seqRaw) {
			continue
		}
		var dec *av1.FrameHeaderDecoder
		err := guard(func() error {
			sh, err := av1.ParseSequenceHeader(o.Payload)
			if err != nil {
				return err
			}
			dec, err = av1.NewFrameHeaderDecoder(sh)
			return err
		})
		if err != nil {
			return fmt.Errorf("sequence header: %w", err)
		}
		p.dec, p.seqRaw = dec, bytes.Clone(o.Payload)
	}
	return nil
}

// Subsamples implements Protector.
func (p *av1Protector) Subsamples(dst []Subsample, sample []byte) ([]Subsample, error) {
	if err := p.sequenceHeaders(sample); err != nil {
		return dst[:0], fmt.Errorf("%w: AV1 sample: %w", ErrBadSample, err)
	}
	if p.dec == nil {
		return dst[:0], fmt.Errorf("%w: AV1 sample before any sequence header (none in av1C either)", ErrBadSample)
	}
	var tiles []av1.TileRange
	err := guard(func() error {
		var err error
		tiles, err = p.dec.GetTileRanges(sample)
		return err
	})
	if err != nil {
		return dst[:0], fmt.Errorf("%w: AV1 sample: %w", ErrBadSample, err)
	}
	b := newSubsampleBuilder(dst, p.align)
	end := 0
	for _, t := range tiles {
		if t.Offset < end || t.Length < 0 || t.Offset+t.Length > len(sample) {
			return dst[:0], fmt.Errorf("%w: AV1 tile at offset %d (%d bytes) outside the sample or overlapping", ErrBadSample, t.Offset, t.Length)
		}
		b.add(uint64(t.Offset-end), uint64(t.Length))
		end = t.Offset + t.Length
	}
	b.add(uint64(len(sample)-end), 0)
	return b.finish(), nil
}
