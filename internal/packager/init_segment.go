package packager

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/media"
)

// trackProtection is the encryption of one output track.
type trackProtection struct {
	scheme     cenc.Scheme
	kid        drm.KeyID
	constantIV []byte // cbcs
	pattern    cenc.Pattern
	ivSize     int
	// clearEntry adds the clear sample entry as stsd index 2, used by the
	// fragments of the clear lead (the layout Shaka Packager also writes).
	clearEntry bool
	psshs      [][]byte // written into moov when pssh-in-init is on
}

// cloneBox deep-copies a box by encoding and decoding it.
func cloneBox(b mp4.Box) (mp4.Box, error) {
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		return nil, err
	}
	return mp4.DecodeBox(0, &buf)
}

// buildInit writes a CMAF header (ISO/IEC 23000-19 §7.3.1) for one track:
// ftyp, moov{mvhd, trak{tkhd, edts, mdia}, mvex{trex}, pssh*}. An encrypted
// track gets the sample entry transformation of ISO/IEC 23001-7 §8.12:
// encv/enca with sinf{frma, schm, schi{tenc}}.
func buildInit(t *media.Track, prot *trackProtection) ([]byte, error) {
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("cmf2", 0, []string{"cmf2", "cmfc", "iso6", "isom", "mp41", "dash"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = t.Timescale
	mvhd.NextTrackID = 2
	moov.AddChild(mvhd)

	kind := "audio"
	if t.Kind == media.Video {
		kind = "video"
	}
	lang := t.Language
	if lang == "" {
		lang = "und"
	}
	trak := mp4.CreateEmptyTrak(1, t.Timescale, kind, lang)
	if t.Kind == media.Video {
		trak.Tkhd.Width = mp4.Fixed32(uint32(t.Width) << 16)
		trak.Tkhd.Height = mp4.Fixed32(uint32(t.Height) << 16)
	}
	if t.EditMediaTime > 0 {
		// Carry the input's edit (B-frame delay, AAC priming) so that
		// presentation times match the input. Duration 0 = the whole
		// fragmented track (ISO/IEC 23000-19 §7.5.13).
		edts := &mp4.EdtsBox{}
		edts.AddChild(&mp4.ElstBox{Version: 1, Entries: []mp4.ElstEntry{{SegmentDuration: 0, MediaTime: t.EditMediaTime, MediaRateInteger: 1}}})
		trak.Edts = edts
		trak.Children = append([]mp4.Box{trak.Children[0], edts}, trak.Children[1:]...)
	}
	moov.AddChild(trak)
	mvex := mp4.NewMvexBox()
	mvex.AddChild(mp4.CreateTrex(1))
	moov.AddChild(mvex)

	stsd := trak.Mdia.Minf.Stbl.Stsd
	entry, err := cloneBox(t.SampleEntry)
	if err != nil {
		return nil, fmt.Errorf("copy sample entry of track %d: %w", t.ID, err)
	}
	if prot == nil {
		stsd.AddChild(entry)
	} else {
		if err := protectEntry(entry, prot); err != nil {
			return nil, err
		}
		stsd.AddChild(entry)
		if prot.clearEntry {
			clear, err := cloneBox(t.SampleEntry)
			if err != nil {
				return nil, err
			}
			stsd.AddChild(clear)
		}
		for _, p := range prot.psshs {
			box, err := mp4.DecodeBox(0, bytes.NewReader(p))
			if err != nil {
				return nil, fmt.Errorf("pssh: %w", err)
			}
			moov.AddChild(box)
		}
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		return nil, fmt.Errorf("encode init segment: %w", err)
	}
	return buf.Bytes(), nil
}

// protectEntry renames the sample entry and appends sinf (ISO/IEC 23001-7
// §8.12, §8.2 tenc). tenc v0 for cenc, v1 with the pattern for cbcs.
func protectEntry(entry mp4.Box, p *trackProtection) error {
	var orig string
	var addChild func(mp4.Box)
	switch se := entry.(type) {
	case *mp4.VisualSampleEntryBox:
		orig, addChild = se.Type(), se.AddChild
		se.SetType("encv")
	case *mp4.AudioSampleEntryBox:
		orig, addChild = se.Type(), se.AddChild
		se.SetType("enca")
	default:
		return fmt.Errorf("%w: sample entry %s cannot be encrypted", ErrMedia, entry.Type())
	}
	sinf := &mp4.SinfBox{}
	sinf.AddChild(&mp4.FrmaBox{DataFormat: orig})
	sinf.AddChild(&mp4.SchmBox{SchemeType: p.scheme.String(), SchemeVersion: 0x00010000})
	tenc := &mp4.TencBox{DefaultIsProtected: 1, DefaultPerSampleIVSize: byte(p.ivSize), DefaultKID: mp4.UUID(p.kid[:])}
	if p.scheme == cenc.CBCS {
		tenc.Version = 1
		tenc.DefaultCryptByteBlock = p.pattern.Crypt
		tenc.DefaultSkipByteBlock = p.pattern.Skip
		tenc.DefaultConstantIV = p.constantIV
	}
	schi := &mp4.SchiBox{}
	schi.AddChild(tenc)
	sinf.AddChild(schi)
	addChild(sinf)
	return nil
}
