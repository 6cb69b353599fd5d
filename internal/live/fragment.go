package live

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/media"
)

// ingestTrack is the CMAF header of one ingested track: the track as the
// packager describes it, and its trex defaults for reading fragments.
type ingestTrack struct {
	track *media.Track
	trex  *mp4.TrexBox
}

// parseHeader reads a CMAF header that must hold exactly one clear video
// or audio track (CMAF §7.3.1: a CMAF track file has one track).
func parseHeader(name string, data []byte) (*ingestTrack, error) {
	tracks, err := media.ParseInit(name, data)
	if err != nil {
		return nil, err
	}
	if len(tracks) != 1 {
		return nil, fmt.Errorf("%w: CMAF header with %d tracks (one per ingest stream)", ErrNotCMAF, len(tracks))
	}
	t := tracks[0]
	it := &ingestTrack{track: t, trex: &mp4.TrexBox{TrackID: t.ID, DefaultSampleDescriptionIndex: 1}}
	// The trex defaults apply to fragments that leave sample values out
	// (ISO/IEC 14496-12 §8.8.3).
	for pos := 0; pos+8 <= len(data); {
		size := int(uint32(data[pos])<<24 | uint32(data[pos+1])<<16 | uint32(data[pos+2])<<8 | uint32(data[pos+3]))
		if size < 8 || pos+size > len(data) {
			break
		}
		if string(data[pos+4:pos+8]) == "moov" {
			box, err := mp4.DecodeBoxSR(0, bits.NewFixedSliceReader(data[pos:pos+size]))
			if err == nil {
				if mv, ok := box.(*mp4.MoovBox); ok && mv.Mvex != nil {
					for _, tr := range mv.Mvex.Trexs {
						if tr.TrackID == t.ID {
							it.trex = tr
						}
					}
				}
			}
		}
		pos += size
	}
	return it, nil
}

// ingestSample is one sample of an ingested fragment with its bytes.
type ingestSample struct {
	media.Sample
	data []byte
}

// parseFragment reads the samples of one fragment (moof + mdat) of track
// it. The fragment must be clear, of the header's track, with a tfdt.
func parseFragment(it *ingestTrack, obj cmafObject) (out []ingestSample, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: fragment decoder failed: %v", ErrNotCMAF, r)
		}
	}()
	mb, err := mp4.DecodeBoxSR(0, bits.NewFixedSliceReader(obj.data))
	if err != nil {
		return nil, fmt.Errorf("%w: moof: %w", ErrNotCMAF, err)
	}
	moof, ok := mb.(*mp4.MoofBox)
	if !ok {
		return nil, fmt.Errorf("%w: moof decoded as %T", ErrNotCMAF, mb)
	}
	db, err := mp4.DecodeBoxSR(uint64(obj.moofSize), bits.NewFixedSliceReader(obj.mdat))
	if err != nil {
		return nil, fmt.Errorf("%w: mdat: %w", ErrNotCMAF, err)
	}
	mdat, ok := db.(*mp4.MdatBox)
	if !ok {
		return nil, fmt.Errorf("%w: mdat decoded as %T", ErrNotCMAF, db)
	}
	if len(moof.Trafs) != 1 {
		return nil, fmt.Errorf("%w: moof with %d track fragments (one per ingest stream)", ErrNotCMAF, len(moof.Trafs))
	}
	traf := moof.Trafs[0]
	if traf.Tfhd == nil || traf.Tfhd.TrackID != it.track.ID {
		return nil, fmt.Errorf("%w: track fragment is not of track %d of the CMAF header", ErrNotCMAF, it.track.ID)
	}
	if traf.Tfdt == nil {
		return nil, fmt.Errorf("%w: track fragment without tfdt (CMAF §7.5.16)", ErrNotCMAF)
	}
	// ISO/IEC 23001-7 §7: sample encryption information marks encrypted
	// media.
	if traf.Senc != nil || traf.UUIDSenc != nil || traf.Saiz != nil || traf.Sbgp != nil {
		return nil, fmt.Errorf("%w: track fragment carries sample encryption information", ErrEncryptedInput)
	}
	frag := mp4.NewFragment()
	frag.AddChild(moof)
	frag.AddChild(mdat)
	full, err := frag.GetFullSamples(it.trex)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotCMAF, err)
	}
	if len(full) == 0 {
		return nil, fmt.Errorf("%w: fragment without samples", ErrNotCMAF)
	}
	video := it.track.Kind == media.Video
	out = make([]ingestSample, len(full))
	for i, s := range full {
		if video && s.Size == 0 {
			return nil, fmt.Errorf("%w: video sample %d is empty", ErrNotCMAF, i+1)
		}
		sync := true
		if video {
			sync = !mp4.DecodeSampleFlags(s.Flags).SampleIsNonSync
		}
		out[i] = ingestSample{Sample: media.Sample{Size: s.Size, DTS: int64(s.DecodeTime), Duration: s.Dur, CTO: s.CompositionTimeOffset, Sync: sync}, data: s.Data}
	}
	return out, nil
}
