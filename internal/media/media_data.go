package media

import (
	"fmt"
	"sort"
)

// span is the byte range [start, end) of a media data box payload.
type span struct{ start, end int64 }

// addMediaData records the payload of a top-level mdat (ISO/IEC 14496-12
// §8.1.1) or imda (§8.1.4, whose payload starts after its 4-byte
// imda_identifier) box: the only places sample data may be.
func (f *File) addMediaData(b topBox) {
	start := b.start + b.hdrLen
	switch b.typ {
	case "mdat":
	case "imda":
		start += 4
	default:
		return
	}
	if end := b.start + b.size; start <= end {
		f.media = append(f.media, span{start, end})
	}
}

// inMediaData reports whether [start, end) lies inside one media data box
// payload. f.media is in file order, as the top-level walk found it.
func (f *File) inMediaData(start, end int64) bool {
	if start < 0 || end < start {
		return false
	}
	// The payloads are disjoint: only the first one ending at or after end
	// can hold the range.
	i := sort.Search(len(f.media), func(i int) bool { return f.media[i].end >= end })
	return i < len(f.media) && f.media[i].start <= start
}

// runInMediaData reports whether the samples of run, contiguous in the
// file (one chunk of stco/co64, ISO/IEC 14496-12 §8.7.5, or one trun,
// §8.8.8), lie inside one media data box payload.
func (f *File) runInMediaData(run []Sample) bool {
	if len(run) == 0 {
		return true
	}
	last := &run[len(run)-1]
	return f.inMediaData(run[0].Offset, last.Offset+int64(last.Size))
}

// runError names the first sample of run that is not inside media data:
// past the end of the file (ErrTruncated) or elsewhere (ErrMalformed).
// first is the 0-based number of run[0] in the track and table names the
// box the offsets come from. Built only on failure, so that the check of
// every chunk or trun allocates nothing.
func (f *File) runError(t *Track, table string, first int, run []Sample) error {
	for i := range run {
		s := &run[i]
		if s.Offset >= 0 && s.Offset > f.size-int64(s.Size) {
			return fmt.Errorf("%s: %w: track %d: %s: sample %d at offset %d needs %d bytes, file has %d", f.path, ErrTruncated, t.ID, table, first+i+1, s.Offset, s.Size, f.size)
		}
		if !f.inMediaData(s.Offset, s.Offset+int64(s.Size)) {
			return fmt.Errorf("%s: %w: track %d: %s: sample %d (offset %d, %d bytes) lies outside mdat", f.path, ErrMalformed, t.ID, table, first+i+1, s.Offset, s.Size)
		}
	}
	// Each sample fits but the run spans more than one payload.
	return fmt.Errorf("%s: %w: track %d: %s: samples %d to %d span more than one mdat", f.path, ErrMalformed, t.ID, table, first+1, first+len(run))
}
