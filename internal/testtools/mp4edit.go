package testtools

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Box is a top-level box of an MP4 file (ISO/IEC 14496-12 §4.2).
type Box struct {
	Type          string
	Start, Header int64 // offset of the box and length of its header
	Size          int64 // whole box, header included
}

// Payload returns the offsets [start, end) of the box payload.
func (b Box) Payload() (start, end int64) { return b.Start + b.Header, b.Start + b.Size }

// TopBoxes walks the top-level boxes of data. It stops at the first header
// that is cut off or whose size does not fit the data, so it also serves
// for damaged files.
func TopBoxes(data []byte) []Box {
	var out []Box
	n := int64(len(data))
	for pos := int64(0); n-pos >= 8; {
		b := Box{Type: string(data[pos+4 : pos+8]), Start: pos, Header: 8, Size: int64(binary.BigEndian.Uint32(data[pos:]))}
		switch b.Size {
		case 0:
			b.Size = n - pos
		case 1:
			if n-pos < 16 {
				return out
			}
			large := binary.BigEndian.Uint64(data[pos+8:])
			if large > uint64(n-pos) {
				return out
			}
			b.Header, b.Size = 16, int64(large)
		}
		if b.Size < b.Header || b.Size > n-pos {
			return out
		}
		out = append(out, b)
		pos += b.Size
	}
	return out
}

// EditMoov decodes the moov box of data with mp4ff, lets edit change it and
// returns a copy of data with the re-encoded moov. When the moov changes
// size and precedes the first mdat (a faststart file), every chunk offset
// (stco/co64) is moved by the difference after edit, so the tables still
// point at the same media bytes.
func EditMoov(t testing.TB, data []byte, edit func(*mp4.MoovBox)) []byte {
	t.Helper()
	return editTopBox(t, data, "moov", 0, func(b mp4.Box) {
		edit(b.(*mp4.MoovBox))
	}, func(b mp4.Box, delta int64) {
		for _, trak := range b.(*mp4.MoovBox).Traks {
			stbl := trak.Mdia.Minf.Stbl
			if stbl.Stco != nil {
				for i := range stbl.Stco.ChunkOffset {
					stbl.Stco.ChunkOffset[i] = uint32(int64(stbl.Stco.ChunkOffset[i]) + delta)
				}
			}
			if stbl.Co64 != nil {
				for i := range stbl.Co64.ChunkOffset {
					stbl.Co64.ChunkOffset[i] = uint64(int64(stbl.Co64.ChunkOffset[i]) + delta)
				}
			}
		}
	})
}

// EditMoof decodes the index-th moof box (0-based) of data with mp4ff, lets
// edit change it and returns a copy of data with the re-encoded moof. The
// edit must keep the size of the moof.
func EditMoof(t testing.TB, data []byte, index int, edit func(*mp4.MoofBox)) []byte {
	t.Helper()
	return editTopBox(t, data, "moof", index, func(b mp4.Box) {
		edit(b.(*mp4.MoofBox))
	}, nil)
}

// editTopBox re-encodes the index-th top-level box of type typ after edit.
// If the size changes, shift (nil: a test failure) adjusts the box for a
// move of the media data by delta bytes.
func editTopBox(t testing.TB, data []byte, typ string, index int, edit func(mp4.Box), shift func(mp4.Box, int64)) []byte {
	t.Helper()
	var target *Box
	firstMdat := int64(-1)
	seen := 0
	for _, b := range TopBoxes(data) {
		if b.Type == "mdat" && firstMdat < 0 {
			firstMdat = b.Start
		}
		if b.Type == typ && target == nil {
			if seen == index {
				bb := b
				target = &bb
			}
			seen++
		}
	}
	if target == nil {
		t.Fatalf("testtools: no %s box number %d", typ, index)
	}
	box, err := mp4.DecodeBox(uint64(target.Start), bytes.NewReader(data[target.Start:target.Start+target.Size]))
	if err != nil {
		t.Fatalf("testtools: decoding %s: %v", typ, err)
	}
	edit(box)
	delta := int64(box.Size()) - target.Size
	if delta != 0 {
		if shift == nil {
			t.Fatalf("testtools: editing %s changed its size by %d bytes", typ, delta)
		}
		if firstMdat > target.Start {
			shift(box, delta)
		}
	}
	var enc bytes.Buffer
	if err := box.Encode(&enc); err != nil {
		t.Fatalf("testtools: encoding %s: %v", typ, err)
	}
	out := make([]byte, 0, int64(len(data))+delta)
	out = append(out, data[:target.Start]...)
	out = append(out, enc.Bytes()...)
	return append(out, data[target.Start+target.Size:]...)
}
