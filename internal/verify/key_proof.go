package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Proof names how a --key was shown to be the right key.
type Proof string

const (
	// ProofPlayReadyChecksum: a PlayReady header's CHECKSUM for the KID
	// matches the key (PlayReady Header Specification §5).
	ProofPlayReadyChecksum Proof = "PlayReady header checksum"
	// ProofAudio: at least minAudioFrames decrypted AAC frames, every one
	// starting with a valid channel element (see validateAAC).
	ProofAudio Proof = "decrypted AAC parsed"
	// ProofVideoDecode: the decrypted H.264/HEVC/AV1/VP9 samples decode
	// with ffmpeg without a single error (see proveByDecoding).
	ProofVideoDecode Proof = "decrypted video decoded by ffmpeg"
	// ProofOpusDecode: at least minAudioFrames decrypted Opus packets
	// decode with ffmpeg without a single error.
	ProofOpusDecode Proof = "decrypted Opus decoded by ffmpeg"
)

// KeyVerdict is what verify concluded about one --key.
type KeyVerdict string

const (
	// KeyProven: at least one proof, and no track found the key wrong.
	KeyProven KeyVerdict = "proven"
	// KeyWrong: a track's samples are invalid after decryption with it
	// (the problems say where).
	KeyWrong KeyVerdict = "wrong"
	// KeyUnproven: no check could tell a wrong key from the right one.
	KeyUnproven KeyVerdict = "not proven"
)

// KeyReport is the verdict on one --key that a track uses.
type KeyReport struct {
	KID     drm.KeyID
	Verdict KeyVerdict
	Proofs  []Proof
	// Unproven says, per track, why the track could not prove the key.
	Unproven []string
}

// minAudioFrames is the number of decrypted AAC frames that prove a key:
// validateAAC accepts a random frame with probability below 0.4, so a
// wrong key passes 16 frames with probability below 0.4^16 ≈ 4e-7.
const minAudioFrames = 16

// Bounds of the video decode per track and key: the first segment is
// enough to prove a key (none of 400 random wrong keys on 1 s segments of
// 320x180 H.264 and HEVC, cbcs and cenc, passed; every decrypted sample is
// still checked structurally), and keeps verify's run time independent of
// the asset's length.
const (
	maxDecodeSegments = 1
	maxDecodeSamples  = 300
	decodeTimeout     = 2 * time.Minute
)

// decodeErrDetect makes ffmpeg's decoders fail on what they would
// otherwise conceal: bitstream and buffer errors, a picture hash SEI that
// does not match (H.265 §D.3.19), and "explode" turns every error into a
// failed decode.
const decodeErrDetect = "+crccheck+bitstream+buffer+explode"

// keyEvidence collects, per KID, the proofs and the reasons for no proof.
type keyEvidence struct {
	proofs map[drm.KeyID][]Proof
	why    map[drm.KeyID][]string
	wrong  map[drm.KeyID]bool
}

// String is one line: the KID, the verdict and its proofs or reasons.
func (k KeyReport) String() string {
	switch k.Verdict {
	case KeyProven:
		ps := make([]string, len(k.Proofs))
		for i, p := range k.Proofs {
			ps[i] = string(p)
		}
		return fmt.Sprintf("key %s: proven (%s)", k.KID, strings.Join(ps, ", "))
	case KeyWrong:
		return fmt.Sprintf("key %s: wrong", k.KID)
	case KeyUnproven:
		return fmt.Sprintf("key %s: NOT PROVEN (%s)", k.KID, strings.Join(k.Unproven, "; "))
	}
	return fmt.Sprintf("key %s: %s", k.KID, k.Verdict)
}

func (e *keyEvidence) prove(kid drm.KeyID, p Proof) {
	if e.proofs == nil {
		e.proofs = map[drm.KeyID][]Proof{}
	}
	if !slices.Contains(e.proofs[kid], p) {
		e.proofs[kid] = append(e.proofs[kid], p)
	}
}

// proven reports whether kid has a proof and no track found it wrong.
func (e *keyEvidence) proven(kid drm.KeyID) bool {
	return len(e.proofs[kid]) > 0 && !e.wrong[kid]
}

func (e *keyEvidence) unproven(kid drm.KeyID, format string, args ...any) {
	if e.why == nil {
		e.why = map[drm.KeyID][]string{}
	}
	e.why[kid] = append(e.why[kid], fmt.Sprintf(format, args...))
}

func (e *keyEvidence) fail(kid drm.KeyID) {
	if e.wrong == nil {
		e.wrong = map[drm.KeyID]bool{}
	}
	e.wrong[kid] = true
}

func (e *keyEvidence) report(kid drm.KeyID) KeyReport {
	r := KeyReport{KID: kid, Proofs: e.proofs[kid], Unproven: e.why[kid]}
	switch {
	case e.wrong[kid]:
		r.Verdict = KeyWrong
	case len(r.Proofs) > 0:
		r.Verdict = KeyProven
	default:
		r.Verdict = KeyUnproven
		if len(r.Unproven) == 0 {
			r.Unproven = []string{"no track decrypted a sample with it"}
		}
	}
	return r
}

// decodeSpan gathers the first decrypted samples of one track under one
// KID, from a random access sample on: H.264/HEVC as an Annex-B byte
// stream (ITU-T H.264 Annex B, H.265 Annex B), AV1/VP9 as the frames of an
// IVF file (header added by ivf), Opus as packets for an Ogg stream.
type decodeSpan struct {
	stream     bytes.Buffer
	samples    int
	segments   int
	lastFile   string
	substreams int // HEVC entry points seen (WPP or tiles)
	// Opus packets and the granule position (48 kHz) at the end of each.
	packets  [][]byte
	granules []uint64
	granule  uint64
}

// add appends the decrypted data of sample s from file, until the span is
// full.
func (d *decodeSpan) add(t *track, file string, data []byte, s *mp4.FullSample) {
	codec := t.decoder()
	annexB := codec == "h264" || codec == "hevc"
	sync := !mp4.DecodeSampleFlags(s.Flags).SampleIsNonSync
	if d.samples == 0 && (annexB && !randomAccess(data, t.nalLen, codec == "hevc") || !annexB && !sync) {
		return
	}
	if file != d.lastFile {
		if d.segments == maxDecodeSegments {
			return
		}
		d.segments++
		d.lastFile = file
	}
	if d.samples == maxDecodeSamples {
		return
	}
	sample := data
	if codec == "opus" {
		if t.timescale > 0 {
			d.granule += uint64(s.Dur) * 48000 / uint64(t.timescale)
		}
		d.packets = append(d.packets, sample)
		d.granules = append(d.granules, d.granule)
		d.samples++
		return
	}
	if !annexB {
		// IVF frame header: frame size, presentation index (both
		// little-endian). AV1 sync samples carry their sequence header;
		// the configOBUs go first anyway (AV1-ISOBMFF §2.3.4).
		size := len(sample)
		if d.samples == 0 {
			for _, ps := range t.paramSets {
				size += len(ps)
			}
		}
		d.stream.Write(binary.LittleEndian.AppendUint32(nil, uint32(size)))
		d.stream.Write(binary.LittleEndian.AppendUint64(nil, uint64(d.samples)))
		if d.samples == 0 {
			for _, ps := range t.paramSets {
				d.stream.Write(ps)
			}
		}
		d.stream.Write(sample)
		d.samples++
		return
	}
	if d.samples == 0 {
		for _, ps := range t.paramSets {
			writeStartCode(&d.stream, ps)
		}
	}
	d.samples++
	for n := range nalUnits(sample, t.nalLen) {
		writeStartCode(&d.stream, n)
		if codec == "hevc" {
			d.substreams += hevcEntryPoints(t.syntax, n)
		}
	}
}

// ivf returns the span as an IVF file: the 32-byte header (signature,
// version 0, header size, FourCC, size, time base, frame count) and the
// frames.
func (d *decodeSpan) ivf(t *track, fourCC string) []byte {
	h := append([]byte("DKIF"), 0, 0, 32, 0)
	h = append(h, fourCC...)
	h = binary.LittleEndian.AppendUint16(h, t.width)
	h = binary.LittleEndian.AppendUint16(h, t.height)
	h = binary.LittleEndian.AppendUint32(h, 30) // time base 1/30: only the order matters here
	h = binary.LittleEndian.AppendUint32(h, 1)
	h = binary.LittleEndian.AppendUint32(h, uint32(d.samples))
	h = binary.LittleEndian.AppendUint32(h, 0)
	return append(h, d.stream.Bytes()...)
}

func writeStartCode(b *bytes.Buffer, nal []byte) {
	b.Write([]byte{0, 0, 0, 1})
	b.Write(nal)
}

// nalUnits yields each NAL unit of a length-prefixed sample (ISO/IEC
// 14496-15 §5.3.2); it stops at a length that does not fit.
func nalUnits(b []byte, lenSize int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for off := 0; off+lenSize <= len(b); {
			n := 0
			for _, c := range b[off : off+lenSize] {
				n = n<<8 | int(c)
			}
			off += lenSize
			if n > len(b)-off || !yield(b[off:off+n]) {
				return
			}
			off += n
		}
	}
}

// randomAccess reports whether a sample holds an IDR picture (H.264 NAL
// type 5) or an IRAP picture (H.265 NAL types 16 to 21, BLA/IDR/CRA), where
// decoding can start without earlier pictures. An H.264 open-GOP I picture
// (recovery point, H.264 §D.2.8) is not one: ffmpeg reports errors for the
// references of the GOP before it (leading pictures, memory management
// operations) even with the right key, so a key period that starts there
// has no video proof.
func randomAccess(b []byte, lenSize int, isHEVC bool) bool {
	for n := range nalUnits(b, lenSize) {
		if len(n) == 0 {
			continue
		}
		if isHEVC {
			if typ := hevc.GetNaluType(n[0]); typ >= hevc.NALU_BLA_W_LP && typ <= hevc.NALU_CRA {
				return true
			}
		} else if avc.GetNaluType(n[0]) == avc.NALU_IDR {
			return true
		}
	}
	return false
}

// hevcEntryPoints counts the entry points of an HEVC slice segment
// (H.265 §7.3.6.1 num_entry_point_offsets); 0 for other NAL units or when
// the header does not parse.
func hevcEntryPoints(v *videoSyntax, n []byte) (count int) {
	if len(n) < 2 || hevc.GetNaluType(n[0]) > hevc.NALU_CRA {
		return 0
	}
	defer func() {
		if recover() != nil {
			count = 0
		}
	}()
	sh, err := hevc.ParseSliceHeader(n, v.hevcSPS, v.hevcPPS)
	if err != nil {
		return 0
	}
	return len(sh.EntryPointOffsetMinus1)
}

// proveByDecoding decodes a track's decode span under kid with ffmpeg and
// records the result. It runs only for keys that nothing cheaper proved:
// audio tracks are checked first, and once one track proves a key the
// others are not decoded.
//
// H.264: ffmpeg's decoder checks that each slice's macroblocks end where its
// data does (CABAC end_of_slice_flag, H.264 §7.3.4, §9.3.3.2.2.3; CAVLC:
// no bits left over) and conceals every other picture error; with
// -err_detect explode each of these is a failed decode, so slice data
// decrypted with a wrong key does not decode.
//
// Opus: ffmpeg's decoder rejects packets whose TOC and frame lengths do not
// fit (RFC 6716 §3.4), which packets decrypted with a wrong key do not.
//
// AV1 and VP9: the arithmetic decoders end each tile with padding that
// must be zero (AV1 §8.2.4 exit process for the symbol decoder, VP9 §9.2.3
// exit_bool); ffmpeg's decoders (libdav1d, vp9) fail on samples decrypted
// with a wrong key.
//
// H.265: ffmpeg's decoder neither checks where slice data ends nor
// complains about most invalid syntax, so a clean decode alone proves
// nothing. With entry points (WPP or tiles, H.265 §7.3.6.1, §9.3.2.5) the
// span is decoded twice: one thread reads the substreams one after the
// other from where the previous one stopped, slice threads start each
// substream at its entry point. The two agree only when each substream
// ends exactly at the next entry point, which slice data decrypted with a
// wrong key does not. Without entry points the key stays unproven.
func (c *checker) proveByDecoding(t *track, kid drm.KeyID, d *decodeSpan) {
	where, kind, proof := t.rep.Dir, "video", ProofVideoDecode
	if t.decoder() == "opus" {
		kind, proof = "Opus", ProofOpusDecode
	}
	if c.opts.FFmpeg == "" {
		c.evidence.unproven(kid, "track %s: no ffmpeg to decode its %s", where, kind)
		return
	}
	bin, err := exec.LookPath(c.opts.FFmpeg)
	if err != nil {
		c.evidence.unproven(kid, "track %s: ffmpeg %q not found to decode its %s", where, c.opts.FFmpeg, kind)
		return
	}
	if d == nil || d.samples == 0 {
		c.evidence.unproven(kid, "track %s: no decrypted random access sample to decode from", where)
		return
	}
	codec, input := t.decoder(), d.stream.Bytes()
	switch codec {
	case "av1":
		codec, input = "ivf", d.ivf(t, "AV01")
	case "vp9":
		codec, input = "ivf", d.ivf(t, "VP90")
	case "opus":
		if d.samples < minAudioFrames {
			c.evidence.unproven(kid, "track %s: only %d Opus packets to decode, %d prove a key", where, d.samples, minAudioFrames)
			return
		}
		codec, input = "ogg", oggOpus(t.opusHead, d.packets, d.granules)
	}
	frames, err := c.decode(bin, codec, input, "-threads", "1")
	if err != nil {
		c.decodeFailed(t, kid, err, "decrypted %s (%d samples from the first %d segment(s)) does not decode (wrong key?)", kind, d.samples, d.segments)
		return
	}
	if codec != "hevc" {
		c.evidence.prove(kid, proof)
		return
	}
	if d.substreams == 0 {
		c.evidence.unproven(kid, "track %s: HEVC without entry points (no WPP or tiles): ffmpeg's HEVC decoder does not check where slice data ends, so a clean decode does not prove the key", where)
		return
	}
	sliced, err := c.decode(bin, codec, input, "-thread_type", "slice", "-threads", "2")
	if err != nil {
		c.decodeFailed(t, kid, err, "decrypted video does not decode with slice threads (wrong key?)")
		return
	}
	if !slices.Equal(frames, sliced) {
		c.evidence.fail(kid)
		c.problem(t.init.path, "", "KID %s: decrypted HEVC decodes to different pictures when its substreams start at their entry points: slice data does not end where the next substream starts (wrong key?)", kid)
		return
	}
	c.evidence.prove(kid, ProofVideoDecode)
}

// decodeFailed records a failed decode: the key is wrong, unless ffmpeg
// could not decode at all here (errDecodeUnavailable), which proves
// nothing either way.
func (c *checker) decodeFailed(t *track, kid drm.KeyID, err error, format string, args ...any) {
	if errors.Is(err, errDecodeUnavailable) {
		c.evidence.unproven(kid, "track %s: %v", t.rep.Dir, err)
		return
	}
	c.evidence.fail(kid)
	c.problem(t.init.path, "", "KID %s: %s: %v", kid, fmt.Sprintf(format, args...), err)
}

// ffmpegSetup matches ffmpeg's messages for a demuxer or decoder that its
// build lacks (one without libdav1d, say).
var ffmpegSetup = regexp.MustCompile(`(?i)unknown input format|decoder \(codec \w+\) not found|requested format .* not found`)

// ffmpegAddr matches the context address in ffmpeg's log prefix
// ("[h264 @ 0x55d9fb542ec0]"), which differs from run to run.
var ffmpegAddr = regexp.MustCompile(`\[(\w+) @ 0x[0-9a-f]+\]`)

// decode runs ffmpeg on an Annex-B, IVF or Ogg stream and returns the MD5 of every
// decoded frame; any decoder message at error level fails the decode.
func (c *checker) decode(bin, format string, input []byte, threads ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(c.ctx, decodeTimeout)
	defer cancel()
	args := append([]string{"-hide_banner", "-nostdin", "-v", "error"}, threads...)
	args = append(args, "-err_detect", decodeErrDetect, "-f", format, "-i", "pipe:0",
		"-map", "0:0", "-fps_mode", "passthrough", "-xerror", "-f", "framemd5", "pipe:1")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = bytes.NewReader(input)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errDecodeUnavailable, err)
	}
	if msg := strings.TrimSpace(errOut.String()); msg != "" {
		first, _, _ := strings.Cut(msg, "\n")
		first = ffmpegAddr.ReplaceAllString(first, "[$1]")
		if ffmpegSetup.MatchString(msg) {
			return nil, fmt.Errorf("%w: %s", errDecodeUnavailable, first)
		}
		return nil, fmt.Errorf("ffmpeg: %s", first)
	}
	if runErr != nil {
		return nil, fmt.Errorf("ffmpeg: %w", runErr)
	}
	var hashes []string
	for _, line := range strings.Split(out.String(), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		hashes = append(hashes, strings.TrimSpace(f[len(f)-1]))
	}
	if len(hashes) == 0 {
		return nil, errNoFrames
	}
	return hashes, nil
}
