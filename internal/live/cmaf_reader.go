package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// cmafObject is one thing a CMAF ingest stream carries: a CMAF header
// (ftyp ... moov) or a fragment (moof + mdat), as whole box bytes.
type cmafObject struct {
	init     bool
	data     []byte // init: ftyp..moov; fragment: moof
	mdat     []byte // fragment only: the whole mdat box
	moofSize int
}

// cmafReader splits a CMAF track stream (ISO/IEC 23000-19 §7.3: a header
// followed by fragments; DASH-IF Live Media Ingest §6.2) into headers and
// fragments, box by box as the bytes arrive, so a long chunked POST is
// handled fragment by fragment. Boxes other than ftyp, moov, moof and mdat
// at the top level (styp, prft, emsg, sidx, free, skip, uuid) are skipped.
type cmafReader struct {
	r io.Reader
	// maxBox bounds every box read into memory.
	maxBox int64
	hdr    [16]byte
	init   []byte // ftyp seen, moov pending
	moof   []byte // moof seen, mdat pending
}

// skippable lists the top-level boxes a CMAF track stream may carry
// besides the header and fragments (ISO/IEC 23000-19 §7.3.2.2, DASH-IF Live
// Media Ingest §6.2: styp, prft, emsg; mfra, ISO/IEC 14496-12 §8.8.9, which
// ffmpeg writes when a stream ends).
var skippable = map[string]bool{"mfra": true, "styp": true, "prft": true, "emsg": true, "sidx": true, "free": true, "skip": true, "uuid": true}

// next returns the next header or fragment; io.EOF at a clean end between
// objects. Errors wrap ErrNotCMAF, ErrTooLarge or io.ErrUnexpectedEOF.
func (c *cmafReader) next() (cmafObject, error) {
	for {
		typ, body, err := c.box()
		if err != nil {
			if errors.Is(err, io.EOF) && (c.init != nil || c.moof != nil) {
				return cmafObject{}, fmt.Errorf("%w: stream ended inside a %s", io.ErrUnexpectedEOF, map[bool]string{true: "CMAF header", false: "fragment"}[c.init != nil])
			}
			return cmafObject{}, err
		}
		switch {
		case typ == "ftyp":
			if c.moof != nil {
				return cmafObject{}, fmt.Errorf("%w: ftyp after a moof without its mdat", ErrNotCMAF)
			}
			c.init = body
		case typ == "moov":
			if c.init == nil {
				c.init = []byte{}
			}
			obj := cmafObject{init: true, data: append(c.init, body...)}
			c.init = nil
			return obj, nil
		case typ == "moof":
			if c.init != nil {
				return cmafObject{}, fmt.Errorf("%w: moof before the moov of the CMAF header", ErrNotCMAF)
			}
			if c.moof != nil {
				return cmafObject{}, fmt.Errorf("%w: two moof boxes without an mdat", ErrNotCMAF)
			}
			c.moof = body
		case typ == "mdat":
			if c.moof == nil {
				return cmafObject{}, fmt.Errorf("%w: mdat without a moof", ErrNotCMAF)
			}
			obj := cmafObject{data: c.moof, mdat: body, moofSize: len(c.moof)}
			c.moof = nil
			return obj, nil
		case skippable[typ]:
			if c.moof != nil {
				return cmafObject{}, fmt.Errorf("%w: %s between moof and mdat", ErrNotCMAF, typ)
			}
		default:
			return cmafObject{}, fmt.Errorf("%w: unexpected top-level box %q", ErrNotCMAF, printable(typ))
		}
	}
}

// box reads one whole top-level box (ISO/IEC 14496-12 §4.2). A failed
// read is returned as it is (ingestBody marks it as the client's); a
// stream that ends inside a box is io.ErrUnexpectedEOF.
func (c *cmafReader) box() (string, []byte, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:8]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && !readFailed(err) {
			return "", nil, fmt.Errorf("%w: truncated box header", io.ErrUnexpectedEOF)
		}
		return "", nil, err
	}
	size := int64(binary.BigEndian.Uint32(c.hdr[:4]))
	typ := string(c.hdr[4:8])
	hdrLen := 8
	if size == 1 {
		if _, err := io.ReadFull(c.r, c.hdr[8:16]); err != nil {
			if readFailed(err) {
				return "", nil, err
			}
			return "", nil, fmt.Errorf("%w: truncated box header", io.ErrUnexpectedEOF)
		}
		size = int64(binary.BigEndian.Uint64(c.hdr[8:16]))
		hdrLen = 16
	}
	if !skippable[typ] && typ != "ftyp" && typ != "moov" && typ != "moof" && typ != "mdat" {
		return "", nil, fmt.Errorf("%w: unexpected top-level box %q", ErrNotCMAF, printable(typ))
	}
	if size == 0 {
		return "", nil, fmt.Errorf("%w: box %q of size 0 (to the end of the stream) has no end in a live stream", ErrNotCMAF, printable(typ))
	}
	if size < int64(hdrLen) {
		return "", nil, fmt.Errorf("%w: box %q of size %d", ErrNotCMAF, printable(typ), size)
	}
	if size > c.maxBox {
		return "", nil, fmt.Errorf("%w: box %q of %d bytes (limit %d)", ErrTooLarge, printable(typ), size, c.maxBox)
	}
	buf := make([]byte, size)
	copy(buf, c.hdr[:hdrLen])
	if _, err := io.ReadFull(c.r, buf[hdrLen:]); err != nil {
		if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && !readFailed(err) {
			return "", nil, fmt.Errorf("%w: box %q truncated", io.ErrUnexpectedEOF, printable(typ))
		}
		return "", nil, err
	}
	return typ, buf, nil
}

// readFailed reports whether err is a failed read of an ingest body
// (ingestBody), rather than the stream's end.
func readFailed(err error) bool {
	var be *bodyReadError
	return errors.As(err, &be)
}

// validType reports whether a box type is four printable ASCII characters.
func validType(typ string) bool {
	for i := 0; i < len(typ); i++ {
		if typ[i] < 0x20 || typ[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable escapes a four-character code for messages.
func printable(typ string) string {
	if validType(typ) {
		return typ
	}
	return fmt.Sprintf("%x", typ)
}
