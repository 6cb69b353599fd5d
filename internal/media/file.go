// Package media reads progressive and fragmented MP4 (ISO/IEC 14496-12)
// inputs into video and audio tracks with complete sample tables, without
// loading media data: sample bytes are read on demand with ReadAt.
package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	mbits "math/bits"
	"os"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// maxMetaBoxSize bounds the moov and moof boxes read into memory. Media data
// (mdat) is never read at Open.
const maxMetaBoxSize = 1 << 30

// File is an opened input. It is safe for concurrent ReadSamples calls from
// several goroutines (it reads with ReadAt only).
type File struct {
	path   string
	f      ReadAtCloser
	size   int64
	tracks []*Track
	// texts are the timed text (tx3g) tracks; skipped the other traks
	// that are neither video nor audio.
	texts   []*Track
	skipped []SkippedTrack
	media   []span // mdat/imda payloads in file order (parse only)

	nSamples int64 // samples added from fragments so far (parse only)
}

// Open parses the box structure of the MP4 file at path: the moov box and,
// for fragmented inputs, every moof/traf/trun, without reading mdat payloads.
// It returns errors wrapping ErrNotMP4, ErrTruncated, ErrMalformed,
// ErrUnsupportedCodec, ErrEncryptedInput, ErrNoSyncSample or ErrNoTracks.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		return nil, err
	}
	return OpenReader(path, fh, st.Size())
}

// ReadAtCloser is random-access input: a local file, or an object in
// object storage read with ranged requests.
type ReadAtCloser interface {
	io.ReaderAt
	io.Closer
}

// OpenReader parses the MP4 file of size bytes that r reads, as Open does;
// name identifies it in errors. On error r is closed; otherwise the File's
// Close closes it.
func OpenReader(name string, r ReadAtCloser, size int64) (*File, error) {
	f := &File{path: name, f: r, size: size}
	if err := f.parseSafe(); err != nil {
		_ = r.Close()
		return nil, err
	}
	return f, nil
}

// parseSafe runs parse and turns a panic inside mp4ff (malformed boxes) into
// an error naming the file.
func (f *File) parseSafe() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: box decoder failed: %v", f.path, ErrMalformed, r)
		}
	}()
	return f.parse()
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Tracks returns the video and audio tracks in moov order. Other tracks
// (text, hint, timed metadata) are skipped; Skipped lists them.
func (f *File) Tracks() []*Track { return f.tracks }

// TextTracks returns the 3GPP timed text (tx3g) tracks in moov order; their
// samples are read with TextCues.
func (f *File) TextTracks() []*Track { return f.texts }

// Skipped returns the tracks that are neither video, audio nor timed text,
// in moov order.
func (f *File) Skipped() []SkippedTrack { return f.skipped }

// Size returns the file size in bytes.
func (f *File) Size() int64 { return f.size }

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }

// ReadSamples appends the bytes of samples, in order, to buf[:0] and returns
// it. Samples that are contiguous in the file are read with one ReadAt.
func (f *File) ReadSamples(buf []byte, samples []Sample) ([]byte, error) {
	total := 0
	for i := range samples {
		total += int(samples[i].Size)
	}
	if cap(buf) < total {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	pos := 0
	for i := 0; i < len(samples); {
		start := samples[i].Offset
		end := start + int64(samples[i].Size)
		j := i + 1
		for j < len(samples) && samples[j].Offset == end {
			end += int64(samples[j].Size)
			j++
		}
		if start < 0 || end > f.size {
			return buf[:pos], fmt.Errorf("%s: %w: sample data at offset %d needs %d bytes, file has %d", f.path, ErrTruncated, start, end-start, f.size)
		}
		n := int(end - start)
		if _, err := f.f.ReadAt(buf[pos:pos+n], start); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: sample data at offset %d needs %d bytes", ErrTruncated, start, n)
			}
			return buf[:pos], fmt.Errorf("%s: %w", f.path, err)
		}
		pos += n
		i = j
	}
	return buf, nil
}

// topBox is a top-level box header (ISO/IEC 14496-12 §4.2).
type topBox struct {
	typ    string
	start  int64
	size   int64 // whole box including header
	hdrLen int64
}

// readBoxHeader reads the box header at pos. size 1 means a 64-bit
// largesize follows, size 0 means the box extends to the end of the file.
func (f *File) readBoxHeader(pos int64) (topBox, error) {
	var hdr [16]byte
	if f.size-pos < 8 {
		return topBox{}, fmt.Errorf("%s: %w: box header at offset %d needs 8 bytes, file has %d", f.path, ErrTruncated, pos, f.size)
	}
	if _, err := f.f.ReadAt(hdr[:8], pos); err != nil {
		return topBox{}, fmt.Errorf("%s: reading box header at offset %d: %w", f.path, pos, err)
	}
	b := topBox{typ: string(hdr[4:8]), start: pos, hdrLen: 8}
	size := uint64(hdr[0])<<24 | uint64(hdr[1])<<16 | uint64(hdr[2])<<8 | uint64(hdr[3])
	switch size {
	case 0:
		size = uint64(f.size - pos)
	case 1:
		if f.size-pos < 16 {
			return b, fmt.Errorf("%s: %w: box %q at offset %d needs 16 header bytes, file has %d", f.path, ErrTruncated, printable4CC(b.typ), pos, f.size)
		}
		if _, err := f.f.ReadAt(hdr[8:16], pos+8); err != nil {
			return b, fmt.Errorf("%s: reading box header at offset %d: %w", f.path, pos, err)
		}
		size = 0
		for _, c := range hdr[8:16] {
			size = size<<8 | uint64(c)
		}
		b.hdrLen = 16
	}
	if size < uint64(b.hdrLen) {
		return b, fmt.Errorf("%s: %w: box %q at offset %d has size %d, smaller than its header", f.path, ErrMalformed, printable4CC(b.typ), pos, size)
	}
	if size > uint64(f.size-pos) {
		return b, fmt.Errorf("%s: %w: box '%s' at offset %d needs %d bytes, file has %d", f.path, ErrTruncated, printable4CC(b.typ), pos, size, f.size)
	}
	b.size = int64(size)
	return b, nil
}

// validBoxType reports whether typ is four printable ASCII characters, the
// form of every registered box type.
func validBoxType(typ string) bool {
	if len(typ) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if typ[i] < 0x20 || typ[i] > 0x7e {
			return false
		}
	}
	return true
}

// firstBoxTypes are the box types that may start an MP4 file (ftyp per
// ISO/IEC 14496-12 §4.3; QuickTime files may start with moov, free, skip,
// wide or mdat).
var firstBoxTypes = map[string]bool{
	"ftyp": true, "styp": true, "moov": true, "free": true, "skip": true, "wide": true, "mdat": true, "pdin": true,
}

// parse walks the top-level boxes and decodes moov and every moof.
func (f *File) parse() error {
	if f.size < 8 {
		return fmt.Errorf("%s: %w: file has only %d bytes", f.path, ErrNotMP4, f.size)
	}
	var moov *topBox
	var moofs []topBox
	for pos := int64(0); pos < f.size; {
		if pos == 0 {
			var typ [4]byte
			if _, err := f.f.ReadAt(typ[:], 4); err != nil {
				return fmt.Errorf("%s: %w", f.path, err)
			}
			if !firstBoxTypes[string(typ[:])] {
				return fmt.Errorf("%s: %w: first box is %q, not ftyp or moov", f.path, ErrNotMP4, printable4CC(string(typ[:])))
			}
		}
		b, err := f.readBoxHeader(pos)
		if err != nil {
			return err
		}
		if !validBoxType(b.typ) {
			return fmt.Errorf("%s: %w: invalid box type %q at offset %d", f.path, ErrMalformed, printable4CC(b.typ), pos)
		}
		switch b.typ {
		case "moov":
			if moov != nil {
				return fmt.Errorf("%s: %w: second moov box at offset %d", f.path, ErrMalformed, pos)
			}
			bb := b
			moov = &bb
		case "moof":
			moofs = append(moofs, b)
		case "mdat", "imda":
			f.addMediaData(b)
		}
		pos += b.size
	}
	if moov == nil {
		return fmt.Errorf("%s: %w: no moov box", f.path, ErrNotMP4)
	}
	mb, err := f.decodeBox(*moov)
	if err != nil {
		return err
	}
	mv, ok := mb.(*mp4.MoovBox)
	if !ok {
		return fmt.Errorf("%s: %w: moov decoded as %T", f.path, ErrMalformed, mb)
	}
	if err := f.buildTracks(mv); err != nil {
		return err
	}
	if len(moofs) > 0 {
		if err := f.addFragments(mv, moofs); err != nil {
			return err
		}
	}
	return f.validate()
}

// decodeBox reads one whole box (moov or moof) into memory and decodes it
// with mp4ff.
func (f *File) decodeBox(b topBox) (mp4.Box, error) {
	if b.size > maxMetaBoxSize {
		return nil, fmt.Errorf("%s: %w: box %q at offset %d is %d bytes, more than the %d allowed", f.path, ErrMalformed, b.typ, b.start, b.size, int64(maxMetaBoxSize))
	}
	buf := make([]byte, b.size)
	if _, err := f.f.ReadAt(buf, b.start); err != nil {
		return nil, fmt.Errorf("%s: reading box %q at offset %d: %w", f.path, b.typ, b.start, err)
	}
	return f.decodeBytes(b, buf)
}

func (f *File) decodeBytes(b topBox, buf []byte) (mp4.Box, error) {
	box, err := mp4.DecodeBoxSR(uint64(b.start), bits.NewFixedSliceReader(buf))
	if err != nil {
		if errors.Is(err, avc.ErrLengthSize) {
			return nil, fmt.Errorf("%s: %w: avcC with a NAL unit length size other than 4", f.path, ErrUnsupportedCodec)
		}
		return nil, fmt.Errorf("%s: %w: box %q at offset %d: %w", f.path, ErrMalformed, b.typ, b.start, err)
	}
	return box, nil
}

// buildTracks turns every video and audio trak of moov into a Track with its
// progressive sample table (empty for fragmented inputs).
func (f *File) buildTracks(mv *mp4.MoovBox) error {
	var movieTimescale uint32
	if mv.Mvhd != nil {
		movieTimescale = mv.Mvhd.Timescale
	}
	for _, trak := range mv.Traks {
		if trak.Tkhd == nil || trak.Mdia == nil || trak.Mdia.Hdlr == nil || trak.Mdia.Mdhd == nil {
			return fmt.Errorf("%s: %w: trak without tkhd/mdhd/hdlr", f.path, ErrMalformed)
		}
		var kind Kind
		switch trak.Mdia.Hdlr.HandlerType {
		case "vide":
			kind = Video
		case "soun":
			kind = Audio
		default:
			if !isTimedText(trak) {
				f.skipped = append(f.skipped, skippedTrack(trak))
				continue
			}
			kind = Text
		}
		t := &Track{
			File:           f.path,
			ID:             trak.Tkhd.TrackID,
			Kind:           kind,
			Timescale:      trak.Mdia.Mdhd.Timescale,
			Language:       language(trak.Mdia.Mdhd),
			EditMediaTime:  -1,
			MovieTimescale: movieTimescale,
		}
		for _, o := range append(f.tracks[:len(f.tracks):len(f.tracks)], f.texts...) {
			if o.ID == t.ID {
				return fmt.Errorf("%s: %w: two tracks with track_ID %d", f.path, ErrMalformed, t.ID)
			}
		}
		if t.Timescale == 0 {
			return fmt.Errorf("%s: %w: track %d: mdhd timescale is 0", f.path, ErrMalformed, t.ID)
		}
		if trak.Edts != nil {
			if err := readEdits(t, trak.Edts); err != nil {
				return fmt.Errorf("%s: %w: track %d: %w", f.path, ErrMalformed, t.ID, err)
			}
		}
		if trak.Mdia.Minf == nil || trak.Mdia.Minf.Stbl == nil {
			return fmt.Errorf("%s: %w: track %d: no stbl", f.path, ErrMalformed, t.ID)
		}
		stbl := trak.Mdia.Minf.Stbl
		if kind == Text {
			t.FourCC = "tx3g"
			if err := f.buildProgressive(t, stbl); err != nil {
				return err
			}
			f.texts = append(f.texts, t)
			continue
		}
		if err := describeSampleEntry(t, stbl.Stsd); err != nil {
			return err
		}
		if err := f.buildProgressive(t, stbl); err != nil {
			return err
		}
		f.tracks = append(f.tracks, t)
	}
	return nil
}

// readEdits takes the timing of an edit list (ISO/IEC 14496-12 §8.6.6):
// leading empty edits (media_time -1) delay the track on the presentation
// timeline by their segment_duration (movie timescale), and the first
// non-empty edit's media_time is the media time presented at that point.
// Edits after the first non-empty one (dwells, repeated or reordered
// media) are not carried.
func readEdits(t *Track, edts *mp4.EdtsBox) error {
	var empty uint64
	for _, elst := range edts.Elst {
		for _, e := range elst.Entries {
			if e.MediaTime == -1 {
				empty += e.SegmentDuration
				continue
			}
			if e.MediaTime < -1 {
				return fmt.Errorf("elst media_time %d", e.MediaTime)
			}
			t.EditMediaTime = e.MediaTime
			t.EditDuration = e.SegmentDuration
			if empty > 0 {
				if t.MovieTimescale == 0 {
					return errors.New("empty edit with mvhd timescale 0")
				}
				hi, lo := mbits.Mul64(empty, uint64(t.Timescale))
				if hi >= uint64(t.MovieTimescale) {
					return fmt.Errorf("empty edit of %d ticks is too long", empty)
				}
				q, _ := mbits.Div64(hi, lo, uint64(t.MovieTimescale))
				if q > math.MaxInt32 {
					return fmt.Errorf("empty edit of %d ticks is too long", empty)
				}
				t.EditDelay = int64(q)
			}
			return nil
		}
	}
	return nil
}

// language returns the mdhd ISO-639-2/T language, or "und" when unset.
func language(m *mp4.MdhdBox) string {
	if m.Language == 0 {
		return "und"
	}
	l := m.GetLanguage()
	for i := 0; i < len(l); i++ {
		if l[i] < 'a' || l[i] > 'z' {
			return "und"
		}
	}
	return l
}

// validate checks the finished tracks: a sync sample in every video track,
// at least one track. Where the sample data lies was checked as each chunk
// or trun was read (runInMediaData).
func (f *File) validate() error {
	if len(f.tracks) == 0 {
		return fmt.Errorf("%s: %w", f.path, ErrNoTracks)
	}
	for _, t := range f.tracks {
		hasSync := false
		for i := range t.Samples {
			if t.Samples[i].Sync {
				hasSync = true
				break
			}
		}
		if t.Kind == Video && !hasSync {
			return fmt.Errorf("%s: %w: video track %d (%d samples)", f.path, ErrNoSyncSample, t.ID, len(t.Samples))
		}
	}
	return nil
}
