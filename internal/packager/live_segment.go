package packager

import (
	"crypto/rand"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/media"
)

// SegmentEncryptor writes the CMAF header and the encrypted segments of one
// track under one key, segment by segment as samples arrive (live
// packaging: one per track and key period). The segments are those the
// file packager writes: one fragment each (ISO/IEC 23000-19 §7.3.2), with
// the same subsample maps and sample auxiliary information.
type SegmentEncryptor struct {
	track   *media.Track
	prot    *trackProtection
	enc     *cenc.Encryptor
	protect cenc.Protector
	sc      scratch
}

// NewSegmentEncryptor prepares the encryption of t under key with scheme.
// cbcs uses the key's 16-byte IV as the constant IV (so a restart writes
// the same init segment); cenc starts the 8-byte per-sample IVs at a
// random value (ISO/IEC 23001-7 §9.1 requires IVs that never repeat under
// one key).
func NewSegmentEncryptor(t *media.Track, scheme cenc.Scheme, key keys.ContentKey) (*SegmentEncryptor, error) {
	var iv []byte
	switch scheme {
	case cenc.CBCS:
		if len(key.IV) != 16 {
			return nil, fmt.Errorf("%w: cbcs needs the key's 16-byte IV (KID %s has %d bytes)", ErrConfig, key.KID, len(key.IV))
		}
		iv = key.IV
	case cenc.CENC:
		iv = make([]byte, 8)
		if _, err := rand.Read(iv); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: scheme %s", ErrConfig, scheme)
	}
	video := t.Kind == media.Video
	enc, err := cenc.NewEncryptor(scheme, key.Key, iv, video)
	if err != nil {
		return nil, err
	}
	e := &SegmentEncryptor{track: t, enc: enc, sc: scratch{fi: fragmentInfo{trackID: 1}},
		prot: &trackProtection{scheme: scheme, kid: key.KID, pattern: enc.Pattern(), ivSize: enc.PerSampleIVSize()}}
	if scheme == cenc.CBCS {
		e.prot.constantIV = iv
	}
	if video {
		if e.protect, err = newProtector(scheme, t); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Init returns the CMAF header: the track's sample entry as encv/enca with
// tenc default_KID = the key's KID.
func (e *SegmentEncryptor) Init() ([]byte, error) { return buildInit(e.track, e.prot) }

// Segment encrypts data, the bytes of samples in order, in place and
// returns the whole segment (styp, moof, mdat) with sequence number seq
// and tfdt baseDTS. Sample offsets are ignored.
func (e *SegmentEncryptor) Segment(seq uint32, baseDTS uint64, samples []media.Sample, data []byte) ([]byte, error) {
	fi := &e.sc.fi
	fi.seq, fi.baseDTS = seq, baseDTS
	fi.durations, fi.sizes, fi.ctos, fi.syncs = fi.durations[:0], fi.sizes[:0], fi.ctos[:0], fi.syncs[:0]
	total := 0
	for _, s := range samples {
		fi.durations = append(fi.durations, s.Duration)
		fi.sizes = append(fi.sizes, s.Size)
		fi.ctos = append(fi.ctos, s.CTO)
		fi.syncs = append(fi.syncs, s.Sync)
		total += int(s.Size)
	}
	if total != len(data) {
		return nil, fmt.Errorf("%w: %d sample bytes for samples of %d bytes", ErrMedia, len(data), total)
	}
	if err := encryptFragment(&e.sc, e.protect, e.enc, e.prot.ivSize, e.track.Kind == media.Video, data); err != nil {
		return nil, err
	}
	hdr := appendFragmentHeader(nil, fi, len(data))
	return append(hdr, data...), nil
}
