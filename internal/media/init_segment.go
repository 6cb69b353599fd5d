package media

import (
	"encoding/binary"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// ParseInit describes the video and audio tracks of a CMAF header
// (ISO/IEC 23000-19 §7.3.1: ftyp and moov, no samples) held in memory, as
// a live encoder sends it. name is used in errors. The tracks have no
// samples; their media arrives in fragments. Errors wrap ErrNotMP4,
// ErrMalformed, ErrUnsupportedCodec or ErrEncryptedInput.
func ParseInit(name string, data []byte) (tracks []*Track, err error) {
	defer func() {
		if r := recover(); r != nil {
			tracks, err = nil, fmt.Errorf("%s: %w: box decoder failed: %v", name, ErrMalformed, r)
		}
	}()
	f := &File{path: name, size: int64(len(data))}
	var moov []byte
	for pos := 0; pos < len(data); {
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("%s: %w: %d trailing bytes after the last box", name, ErrMalformed, len(data)-pos)
		}
		size := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if pos == 0 && !firstBoxTypes[typ] {
			return nil, fmt.Errorf("%s: %w: first box is %q, not ftyp or moov", name, ErrNotMP4, printable4CC(typ))
		}
		if size < 8 || size > len(data)-pos {
			return nil, fmt.Errorf("%s: %w: box %q at offset %d has size %d (%d bytes left)", name, ErrMalformed, printable4CC(typ), pos, size, len(data)-pos)
		}
		if typ == "moov" {
			moov = data[pos : pos+size]
		}
		pos += size
	}
	if moov == nil {
		return nil, fmt.Errorf("%s: %w: no moov box", name, ErrNotMP4)
	}
	box, err := f.decodeBytes(topBox{typ: "moov", size: int64(len(moov))}, moov)
	if err != nil {
		return nil, err
	}
	mv, ok := box.(*mp4.MoovBox)
	if !ok {
		return nil, fmt.Errorf("%s: %w: moov decoded as %T", name, ErrMalformed, box)
	}
	if err := f.buildTracks(mv); err != nil {
		return nil, err
	}
	if len(f.tracks) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoTracks)
	}
	return f.tracks, nil
}
