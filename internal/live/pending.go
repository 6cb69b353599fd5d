package live

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/drmpipe/drmpipe/internal/storage"
)

// The samples of a track's open segment (received, not yet published) are
// kept in the holder's state directory as <track>.pending (lease.go), so a restarted server publishes them
// with the samples that follow instead of leaving a hole in the timeline.
// Each record: DTS int64, duration uint32, composition offset int32, sync
// byte, size uint32, then the sample bytes (big-endian).

const pendingHeader = 8 + 4 + 4 + 1 + 4

func pendingPath(stateDir, track string) string {
	return filepath.Join(stateDir, track+".pending")
}

func appendPending(w io.Writer, samples []ingestSample) error {
	bw := bufio.NewWriter(w)
	var hdr [pendingHeader]byte
	for _, s := range samples {
		binary.BigEndian.PutUint64(hdr[0:], uint64(s.DTS))
		binary.BigEndian.PutUint32(hdr[8:], s.Duration)
		binary.BigEndian.PutUint32(hdr[12:], uint32(s.CTO))
		hdr[16] = 0
		if s.Sync {
			hdr[16] = 1
		}
		binary.BigEndian.PutUint32(hdr[17:], uint32(len(s.data)))
		if _, err := bw.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := bw.Write(s.data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// savePending records the open segment's samples: appended when nothing
// was published since the last save, else the file is rewritten.
func savePending(dir, track string, samples []ingestSample, rewrite bool) error {
	name := pendingPath(dir, track)
	if rewrite {
		var buf bytes.Buffer
		if err := appendPending(&buf, samples); err != nil {
			return err
		}
		return storage.WriteFileAtomic(name, buf.Bytes(), 0o600)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := appendPending(f, samples); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadPending reads the open segment's samples back, keeping those before
// next (the track's next decode time as last saved: a crash between the
// two saves leaves samples the state does not count, and the encoder sends
// them again). A file ending inside a record is an append cut short (a
// crash, or a holder that lost its lease still writing): the state is
// committed after the append, so every sample it counts came whole before.
func loadPending(dir, track string, next int64) ([]ingestSample, error) {
	b, err := os.ReadFile(pendingPath(dir, track))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ingestSample
	for len(b) > 0 {
		if len(b) < pendingHeader {
			return out, nil
		}
		s := ingestSample{}
		s.DTS = int64(binary.BigEndian.Uint64(b[0:]))
		s.Duration = binary.BigEndian.Uint32(b[8:])
		s.CTO = int32(binary.BigEndian.Uint32(b[12:]))
		s.Sync = b[16] == 1
		n := int(binary.BigEndian.Uint32(b[17:]))
		if len(b)-pendingHeader < n {
			return out, nil
		}
		s.Size = uint32(n)
		s.data = b[pendingHeader : pendingHeader+n]
		b = b[pendingHeader+n:]
		if s.DTS+int64(s.Duration) <= next {
			out = append(out, s)
		}
	}
	return out, nil
}
