package media

import (
	"fmt"
	"strconv"

	"github.com/Eyevinn/mp4ff/mp4"
)

// fragState is the per-track running state across movie fragments.
type fragState struct {
	track   *Track
	trex    *mp4.TrexBox
	nextDTS int64
}

// sampleIsNonSync is sample_is_non_sync_sample in the sample flags
// (ISO/IEC 14496-12 §8.8.3.1).
const sampleIsNonSync = 0x00010000

// addFragments appends the samples of every moof to the tracks
// (ISO/IEC 14496-12 §8.8.4 moof, §8.8.7 tfhd, §8.8.8 trun, §8.8.12 tfdt).
// The moof boxes are read one at a time; mdat payloads are never read.
func (f *File) addFragments(mv *mp4.MoovBox, moofs []topBox) error {
	states := make(map[uint32]*fragState, len(f.tracks)+len(f.texts))
	for _, t := range append(f.tracks[:len(f.tracks):len(f.tracks)], f.texts...) {
		st := &fragState{track: t}
		if mv.Mvex != nil {
			st.trex, _ = mv.Mvex.GetTrex(t.ID)
		}
		if n := len(t.Samples); n > 0 {
			last := t.Samples[n-1]
			st.nextDTS = last.DTS + int64(last.Duration)
		}
		states[t.ID] = st
	}
	known := make(map[uint32]bool, len(mv.Traks))
	for _, trak := range mv.Traks {
		if trak.Tkhd != nil {
			known[trak.Tkhd.TrackID] = true
		}
	}
	var buf []byte
	for _, b := range moofs {
		if b.size > maxMetaBoxSize {
			return fmt.Errorf("%s: %w: moof at offset %d is %d bytes", f.path, ErrMalformed, b.start, b.size)
		}
		if cap(buf) < int(b.size) {
			buf = make([]byte, b.size)
		}
		buf = buf[:b.size]
		if _, err := f.f.ReadAt(buf, b.start); err != nil {
			return fmt.Errorf("%s: reading moof at offset %d: %w", f.path, b.start, err)
		}
		box, err := f.decodeBytes(b, buf)
		if err != nil {
			return err
		}
		moof, ok := box.(*mp4.MoofBox)
		if !ok {
			return fmt.Errorf("%s: %w: moof at offset %d decoded as %T", f.path, ErrMalformed, b.start, box)
		}
		if err := f.addMoof(moof, b.start, states, known); err != nil {
			return err
		}
	}
	for _, t := range append(f.tracks[:len(f.tracks):len(f.tracks)], f.texts...) {
		if cap(t.Samples) > len(t.Samples)+len(t.Samples)/4 {
			t.Samples = append([]Sample(nil), t.Samples...)
		}
	}
	return nil
}

func (f *File) addMoof(moof *mp4.MoofBox, moofStart int64, states map[uint32]*fragState, known map[uint32]bool) error {
	// End of the data of the preceding traf: the implicit base of the next
	// traf when neither base-data-offset nor default-base-is-moof is set.
	prevEnd := moofStart
	for i, traf := range moof.Trafs {
		tfhd := traf.Tfhd
		if tfhd == nil {
			return fmt.Errorf("%s: %w: traf without tfhd in moof at offset %d", f.path, ErrMalformed, moofStart)
		}
		var base int64
		switch {
		case tfhd.HasBaseDataOffset():
			if tfhd.BaseDataOffset > uint64(f.size) {
				return fmt.Errorf("%s: %w: track %d: tfhd in moof at offset %d: base_data_offset %d is past the end, file has %d", f.path, ErrTruncated, tfhd.TrackID, moofStart, tfhd.BaseDataOffset, f.size)
			}
			base = int64(tfhd.BaseDataOffset)
		case tfhd.DefaultBaseIfMoof(), i == 0:
			base = moofStart
		default:
			base = prevEnd
		}
		st := states[tfhd.TrackID]
		if st == nil && !known[tfhd.TrackID] {
			return fmt.Errorf("%s: %w: traf for track %d in moof at offset %d, no such track in moov", f.path, ErrMalformed, tfhd.TrackID, moofStart)
		}
		if st != nil && traf.Tfdt != nil {
			st.nextDTS = int64(traf.Tfdt.BaseMediaDecodeTime())
		}
		pos := base
		for _, trun := range traf.Truns {
			if trun.HasDataOffset() {
				pos = base + int64(trun.DataOffset)
			}
			trun.AddSampleDefaultValues(tfhd, trexOf(st))
			if st == nil { // a track we skip (text, metadata): only advance pos
				for _, s := range trun.Samples {
					pos += int64(s.Size)
				}
				continue
			}
			t := st.track
			// Every real sample occupies at least one byte of the file, so
			// more samples than file bytes means a hostile sample count.
			f.nSamples += int64(len(trun.Samples))
			if f.nSamples > f.size {
				return fmt.Errorf("%s: %w: trun in moof at offset %d brings the sample count to %d, more than the %d file bytes", f.path, ErrMalformed, moofStart, f.nSamples, f.size)
			}
			if need := len(t.Samples) + len(trun.Samples); need > cap(t.Samples) {
				// Double instead of append's 1.25x growth for large slices.
				grown := make([]Sample, len(t.Samples), max(need, 2*cap(t.Samples), 256))
				copy(grown, t.Samples)
				t.Samples = grown
			}
			first := len(t.Samples)
			for _, s := range trun.Samples {
				if s.Size == 0 && t.Kind == Video {
					return fmt.Errorf("%s: %w: track %d: trun in moof at offset %d: sample %d has size 0", f.path, ErrMalformed, t.ID, moofStart, len(t.Samples)+1)
				}
				t.Samples = append(t.Samples, Sample{
					Offset:   pos,
					Size:     s.Size,
					DTS:      st.nextDTS,
					Duration: s.Dur,
					CTO:      s.CompositionTimeOffset,
					Sync:     t.Kind != Video || s.Flags&sampleIsNonSync == 0,
				})
				pos += int64(s.Size)
				st.nextDTS += int64(s.Dur)
			}
			// The run must land in media data (§8.8.8.3: data_offset is
			// added to the base data offset of tfhd, §8.8.7.1).
			if run := t.Samples[first:]; !f.runInMediaData(run) {
				return f.runError(t, "trun in moof at offset "+strconv.FormatInt(moofStart, 10), first, run)
			}
		}
		prevEnd = pos
	}
	return nil
}

func trexOf(st *fragState) *mp4.TrexBox {
	if st == nil {
		return nil
	}
	return st.trex
}
