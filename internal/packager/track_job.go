package packager

import (
	"context"
	"fmt"
	"path"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// trackOutput is one segment set of one track (two of them with --dual).
type trackOutput struct {
	dir string // relative to the output root, forward slashes
	// periods are the key periods in order; one without key rotation.
	periods []*outputPeriod
	protect cenc.Protector // nil for audio and clear output

	scratch  []byte
	segments []manifest.Segment
}

// outputPeriod is one key period of an output: the segments from first up
// to the next period's first, encrypted under one key and described by one
// init segment (whose tenc default_KID is the period's KID).
type outputPeriod struct {
	index int    // key period index, the same in every track
	first int    // index of the period's first segment in trackJob.spans
	init  string // init segment file name in the output's dir
	prot  *trackProtection
	key   keys.ContentKey
	// iv is the constant IV (cbcs) or first per-sample IV (cenc).
	iv   []byte
	sigs []manifest.SystemSignaling
	enc  *cenc.Encryptor
	// moofPSSHs are written into every moof of the period under in-band
	// signaling (nil otherwise).
	moofPSSHs [][]byte
}

// encrypted reports whether the output is protected (every period is, or none).
func (o *trackOutput) encrypted() bool { return o.periods[0].prot != nil }

// period returns the key period of segment k.
func (o *trackOutput) period(k int) *outputPeriod {
	p := o.periods[0]
	for _, q := range o.periods[1:] {
		if q.first > k {
			break
		}
		p = q
	}
	return p
}

// trackJob packages one input track into its outputs.
type trackJob struct {
	file      *media.File
	track     *media.Track
	name      string
	spans     []span
	clearSegs int // leading segments left in the clear
	outputs   []*trackOutput
	progress  func(n int)
	observer  SegmentObserver
}

func (j *trackJob) isVideo() bool { return j.track.Kind == media.Video }

// prepare creates the encryptors and writes the init segments (one per key
// period).
func (j *trackJob) prepare(ctx context.Context, out storage.Output) error {
	for _, o := range j.outputs {
		if o.encrypted() && j.isVideo() {
			p, err := newProtector(o.periods[0].prot.scheme, j.track)
			if err != nil {
				return fmt.Errorf("%s: %s track %d: %w", j.track.File, j.track.Codec, j.track.ID, err)
			}
			o.protect = p
		}
		for _, p := range o.periods {
			if p.prot != nil {
				enc, err := cenc.NewEncryptor(p.prot.scheme, p.key.Key, p.iv, j.isVideo())
				if err != nil {
					return fmt.Errorf("%s: %w", j.name, err)
				}
				p.enc = enc
				p.prot.pattern = enc.Pattern()
				p.prot.ivSize = enc.PerSampleIVSize()
			}
			if p.index > 0 && p.init == o.periods[0].init {
				continue // in-band signaling: one init segment, the first period's
			}
			init, err := buildInit(j.track, p.prot)
			if err != nil {
				return fmt.Errorf("%s: track %d: %w", j.track.File, j.track.ID, err)
			}
			if err := out.Write(ctx, path.Join(o.dir, p.init), init); err != nil {
				return err
			}
		}
	}
	return nil
}

// newProtector picks the subsample rules of a video track's codec.
func newProtector(scheme cenc.Scheme, t *media.Track) (cenc.Protector, error) {
	switch t.Codec {
	case media.H264:
		return cenc.NewNALProtector(scheme, cenc.H264, t.NALLengthSize, t.ParamSets)
	case media.HEVC:
		return cenc.NewNALProtector(scheme, cenc.HEVC, t.NALLengthSize, t.ParamSets)
	case media.AV1:
		return cenc.NewAV1Protector(scheme, t.ConfigOBUs)
	case media.VP9:
		return cenc.NewVP9Protector(scheme)
	default:
		return nil, fmt.Errorf("%w: no subsample rules for %s video", ErrMedia, t.Codec)
	}
}

// scratch holds the buffers one track job reuses from segment to segment.
type scratch struct {
	buf, hdr []byte
	subs     []cenc.Subsample // one sample's map
	flat     []cenc.Subsample // every map of the fragment
	fi       fragmentInfo
}

// run writes every segment, streaming: one segment's samples are in memory
// at a time (plus one copy per extra output with --dual).
func (j *trackJob) run(ctx context.Context, out storage.Output) error {
	sc := &scratch{fi: fragmentInfo{trackID: 1}}
	for k, sp := range j.spans {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := func(int64, int64, error) {}
		if j.observer != nil {
			done = j.observer.StartSegment(ctx, j.name, k+1)
		}
		written, err := j.segment(ctx, out, k, sp, sc)
		done(int64(len(sc.buf)), written, err)
		if err != nil {
			return err
		}
		if j.progress != nil {
			j.progress(len(sc.buf))
		}
	}
	return nil
}

// segment reads segment k once and encrypts and writes it for every output;
// it returns the bytes written.
func (j *trackJob) segment(ctx context.Context, out storage.Output, k int, sp span, sc *scratch) (int64, error) {
	t := j.track
	samples := t.Samples[sp.first:sp.end]
	var err error
	sc.buf, err = j.file.ReadSamples(sc.buf[:0], samples)
	if err != nil {
		return 0, fmt.Errorf("%s: track %d: %w", t.File, t.ID, err)
	}
	fi := &sc.fi
	fi.seq = uint32(k + 1)
	fi.baseDTS = outputDTS(t, samples[0])
	fi.durations = fi.durations[:0]
	fi.sizes = fi.sizes[:0]
	fi.ctos = fi.ctos[:0]
	fi.syncs = fi.syncs[:0]
	for _, s := range samples {
		fi.durations = append(fi.durations, s.Duration)
		fi.sizes = append(fi.sizes, s.Size)
		fi.ctos = append(fi.ctos, s.CTO)
		fi.syncs = append(fi.syncs, s.Sync)
	}
	var written int64
	for oi, o := range j.outputs {
		data := sc.buf
		if oi < len(j.outputs)-1 && o.encrypted() {
			o.scratch = append(o.scratch[:0], sc.buf...)
			data = o.scratch
		}
		fi.encrypted = false
		fi.sampleDI = 0
		p := o.period(k)
		fi.psshs = p.moofPSSHs
		fi.seig = nil
		clear := p.prot != nil && k < j.clearSegs
		if clear {
			fi.sampleDI = 2 // the clear sample entry (see trackProtection.clearEntry)
		}
		if p.prot != nil && !clear {
			if err := j.encrypt(o, p, sc, data); err != nil {
				return written, fmt.Errorf("%s: track %d: segment %d: %w", t.File, t.ID, k+1, err)
			}
		}
		sc.hdr = appendFragmentHeader(sc.hdr[:0], fi, len(data))
		if err := out.Write(ctx, path.Join(o.dir, segmentFile(k+1)), sc.hdr, data); err != nil {
			return written, err
		}
		size := int64(len(sc.hdr) + len(data))
		written += size
		o.segments = append(o.segments, manifest.Segment{Number: k + 1, Start: sp.start, Duration: sp.dur, Size: size, Clear: clear})
	}
	return written, nil
}

// encrypt encrypts the samples of one fragment in place and records the
// sample auxiliary information in sc.fi.
func (j *trackJob) encrypt(o *trackOutput, p *outputPeriod, sc *scratch, data []byte) error {
	if err := encryptFragment(sc, o.protect, p.enc, p.prot.ivSize, j.isVideo(), data); err != nil {
		return err
	}
	if p.moofPSSHs != nil {
		sc.fi.seig = p.prot // in-band signaling: the period's KID in every fragment
	}
	return nil
}

// encryptFragment encrypts the samples of the fragment described by sc.fi
// in place with enc (subsample maps from protect, nil for full-sample
// audio) and records the sample auxiliary information in sc.fi.
func encryptFragment(sc *scratch, protect cenc.Protector, enc *cenc.Encryptor, ivSize int, video bool, data []byte) error {
	fi := &sc.fi
	n := len(fi.sizes)
	fi.encrypted = true
	fi.ivSize = ivSize
	fi.ivs = fi.ivs[:0]
	fi.subs = fi.subs[:0]
	// Audio is full-sample: cenc with per-sample IVs only, cbcs with
	// IV-less senc entries (see appendFragmentHeader).
	fi.useSubs = video
	sc.flat = sc.flat[:0]
	bounds := make([]int, 0, n+1)
	bounds = append(bounds, 0)
	off := 0
	for i := 0; i < n; i++ {
		sample := data[off : off+int(fi.sizes[i])]
		off += int(fi.sizes[i])
		var subs []cenc.Subsample
		if protect != nil {
			var err error
			sc.subs, err = protect.Subsamples(sc.subs[:0], sample)
			if err != nil {
				return fmt.Errorf("sample %d: %w", i+1, err)
			}
			subs = sc.subs
		}
		iv, err := enc.EncryptSample(sample, subs)
		if err != nil {
			return fmt.Errorf("sample %d: %w", i+1, err)
		}
		if fi.ivSize > 0 {
			fi.ivs = append(fi.ivs, iv)
		}
		sc.flat = append(sc.flat, subs...)
		bounds = append(bounds, len(sc.flat))
	}
	if fi.useSubs {
		for i := 0; i < n; i++ {
			fi.subs = append(fi.subs, sc.flat[bounds[i]:bounds[i+1]])
		}
	}
	return nil
}

func segmentFile(n int) string { return fmt.Sprintf("seg_%d.m4s", n) }
