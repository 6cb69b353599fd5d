package live

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzIngest: any bytes an encoder sends are split into CMAF headers and
// fragments and parsed, or refused with the sentinel that maps to their
// status (ErrNotCMAF, ErrTooLarge, ErrEncryptedInput, a truncated stream);
// never a panic, never an object larger than the stream.
func FuzzIngest(f *testing.F) {
	track := cmafTrack(f, 2)
	f.Add(track)
	f.Add(track[:len(track)/2])
	f.Add([]byte("\x00\x00\x00\x08moof\x00\x00\x00\x08mdat"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &cmafReader{r: bytes.NewReader(data), maxBox: 1 << 20}
		var it *ingestTrack
		for {
			obj, err := cr.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrNotCMAF) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("reader error wraps no ingest sentinel: %v", err)
				}
				return
			}
			if len(obj.data)+len(obj.mdat) > len(data) {
				t.Fatalf("object of %d bytes from a %d-byte stream", len(obj.data)+len(obj.mdat), len(data))
			}
			if obj.init {
				if it, err = parseHeader("fuzz", obj.data); err != nil {
					it = nil
				}
				continue
			}
			if it != nil {
				_, _ = parseFragment(it, obj)
			}
		}
	})
}
