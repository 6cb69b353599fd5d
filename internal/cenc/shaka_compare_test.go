package cenc

// Byte-exact comparison against Shaka Packager 3.4.2, the reference
// packager: with the same key and 16-byte constant IV its cbcs samples and
// subsample maps are the ones to match. Decrypt-and-compare cannot catch a
// non-conformant subsample layout; a byte compare can. These tests need
// ffmpeg (with libx264/libx265) and the Shaka Packager binary; they fail,
// never skip, when either is missing. Shaka is found through $SHAKA_PACKAGER or at
// <repo>/web/node_modules/shaka-packager/bin/packager-linux-x64
// (installed by `npm ci` in web/).

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

var (
	shakaKID = mustHex("00112233445566778899aabbccddeeff")
	shakaKey = mustHex("2b7e151628aed2a6abf7158809cf4f3c")
	shakaIV  = mustHex("000102030405060708090a0b0c0d0e0f")
	// cenc: an 8-byte IV; Shaka adds 1 per sample, as Encryptor does.
	shakaIV8 = mustHex("a0a1a2a3a4a5a6a7")
)

// shakaIVFor is the constant IV both packagers use under scheme.
func shakaIVFor(scheme Scheme) []byte {
	if scheme == CENC {
		return shakaIV8
	}
	return shakaIV
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
}

// clearTrack is the first video track of a progressive MP4.
type clearTrack struct {
	codec      Codec
	lenSize    int
	paramSets  [][]byte
	configOBUs []byte // AV1
	samples    [][]byte
}

// protector builds the Protector drmpipe uses for the track's codec.
func (ct clearTrack) protector(scheme Scheme) (Protector, error) {
	switch ct.codec {
	case AV1:
		return NewAV1Protector(scheme, ct.configOBUs)
	case VP9:
		return NewVP9Protector(scheme)
	default:
		return NewNALProtector(scheme, ct.codec, ct.lenSize, ct.paramSets)
	}
}

func readClearTrack(t testing.TB, path string) clearTrack {
	t.Helper()
	data, f := testtools.ReadMP4(t, path)
	var ct clearTrack
	for _, trak := range f.Moov.Traks {
		stsd := trak.Mdia.Minf.Stbl.Stsd
		switch {
		case stsd.AvcX != nil:
			ct.codec = H264
			ct.lenSize = 4 // mp4ff keeps no lengthSizeMinusOne for avcC; ffmpeg writes 4
			ct.paramSets = append(append(ct.paramSets, stsd.AvcX.AvcC.SPSnalus...), stsd.AvcX.AvcC.PPSnalus...)
		case stsd.HvcX != nil:
			ct.codec = HEVC
			ct.lenSize = int(stsd.HvcX.HvcC.LengthSizeMinusOne) + 1
			for _, a := range stsd.HvcX.HvcC.NaluArrays {
				ct.paramSets = append(ct.paramSets, a.Nalus...)
			}
		case stsd.Av01 != nil:
			ct.codec = AV1
			ct.configOBUs = stsd.Av01.Av1C.ConfigOBUs
		case stsd.VpXX != nil:
			ct.codec = VP9
		default:
			continue
		}
		ct.samples = trackSamples(t, data, trak)
		return ct
	}
	t.Fatalf("%s: no AVC/HEVC/AV1/VP9 track", path)
	return ct
}

// encTrack is what Shaka wrote: per sample the bytes, IV and subsamples.
type encTrack struct {
	scheme  string
	pattern Pattern
	ivSize  int
	samples [][]byte
	ivs     [][]byte
	subs    [][]Subsample
}

func readShakaOutput(t testing.TB, path string) encTrack {
	t.Helper()
	_, f := testtools.ReadMP4(t, path)
	if f.Init == nil || len(f.Segments) == 0 {
		t.Fatalf("%s: not a fragmented file", path)
	}
	trak := f.Init.Moov.Trak
	var sinf *mp4.SinfBox
	if stsd := trak.Mdia.Minf.Stbl.Stsd; stsd.Encv != nil {
		sinf = stsd.Encv.Sinf
	} else if stsd.Enca != nil {
		sinf = stsd.Enca.Sinf
	}
	if sinf == nil {
		t.Fatalf("%s: no encrypted sample entry", path)
	}
	tenc := sinf.Schi.Tenc
	et := encTrack{
		scheme:  sinf.Schm.SchemeType,
		pattern: Pattern{tenc.DefaultCryptByteBlock, tenc.DefaultSkipByteBlock},
		ivSize:  int(tenc.DefaultPerSampleIVSize),
	}
	trex := f.Init.Moov.Mvex.Trex
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			traf := frag.Moof.Traf
			if has, parsed := traf.ContainsSencBox(); !has {
				t.Fatalf("fragment without senc")
			} else if !parsed {
				if err := traf.ParseReadSenc(tenc.DefaultPerSampleIVSize, frag.Moof.StartPos); err != nil {
					t.Fatal(err)
				}
			}
			fs, err := frag.GetFullSamples(trex)
			if err != nil {
				t.Fatal(err)
			}
			senc := traf.Senc
			if int(senc.SampleCount) != len(fs) {
				t.Fatalf("senc has %d samples, trun %d", senc.SampleCount, len(fs))
			}
			for i, s := range fs {
				et.samples = append(et.samples, s.Data)
				var iv []byte
				if len(senc.IVs) > 0 {
					iv = senc.IVs[i]
				}
				et.ivs = append(et.ivs, iv)
				var subs []Subsample
				if len(senc.SubSamples) > 0 {
					for _, ss := range senc.SubSamples[i] {
						subs = append(subs, Subsample{Clear: ss.BytesOfClearData, Protected: ss.BytesOfProtectedData})
					}
				}
				et.subs = append(et.subs, subs)
			}
		}
	}
	return et
}

type shakaCase struct {
	name   string
	ffmpeg []string // video encoder arguments
	inband bool     // samples must carry SPS/PPS NAL units
	multi  bool     // some samples must have several protected ranges (slices, tiles, superframes)
}

var shakaCases = []shakaCase{
	{"h264", []string{"-c:v", "libx264", "-g", "30", "-bf", "2"}, false, false},
	// Several slices per picture, and SPS/PPS repeated in-band at every key frame.
	{"h264-slices-inband", []string{"-c:v", "libx264", "-g", "30", "-bf", "2", "-x264-params", "slices=4:repeat-headers=1"}, true, true},
	{"hevc", []string{"-c:v", "libx265", "-g", "30", "-bf", "2", "-x265-params", "log-level=error", "-tag:v", "hvc1"}, false, false},
	{"hevc-slices-inband", []string{"-c:v", "libx265", "-g", "30", "-bf", "2", "-x265-params", "log-level=error:slices=3:repeat-headers=1", "-tag:v", "hev1"}, true, true},
	// SVT-AV1: OBU_FRAME samples, hidden alt-ref frames shown later by
	// show_existing_frame, sequence header in-band at key frames.
	{"av1", []string{"-c:v", "libsvtav1", "-preset", "12", "-crf", "40", "-g", "30"}, false, false},
	// libaom with 2x2 tiles: several protected ranges per sample.
	{"av1-tiles", []string{"-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-tile-columns", "1", "-tile-rows", "1", "-crf", "40", "-g", "30"}, false, true},
	// libvpx realtime at a fixed bitrate writes some superframes (a hidden
	// frame and a shown one): several protected ranges in one sample.
	{"vp9-superframes", []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "30"}, false, true},
	// Two tile columns (tile_info bits), error-resilient inter frames.
	{"vp9-tiles", []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-tile-columns", "1", "-error-resilient", "1", "-crf", "35", "-b:v", "0", "-g", "30"}, false, false},
}

// makeInput encodes a 2 s test clip.
func makeInput(t testing.TB, dir string, c shakaCase) string {
	t.Helper()
	in := filepath.Join(dir, "in.mp4")
	size := "320x240"
	if c.ffmpeg[1] == "libaom-av1" || c.ffmpeg[1] == "libvpx-vp9" {
		size = "640x360" // room for several tiles
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30", "-t", "2", "-pix_fmt", "yuv420p"}
	args = append(args, c.ffmpeg...)
	args = append(args, "-f", "mp4", in)
	run(t, testtools.FFmpeg(t), args...)
	return in
}

// runShaka encrypts one stream ("video" or "audio") of in with Shaka
// Packager under scheme, key shakaKey and constant IV iv; it returns the
// output file.
func runShaka(t testing.TB, dir, in, stream, scheme string, iv []byte) string {
	t.Helper()
	out := filepath.Join(dir, "out-"+scheme+".mp4")
	run(t, testtools.ShakaPackager(t),
		fmt.Sprintf("in=%s,stream=%s,output=%s", in, stream, out),
		"--protection_scheme", scheme,
		"--enable_raw_key_encryption",
		"--keys", fmt.Sprintf("label=:key_id=%x:key=%x", shakaKID, shakaKey),
		"--iv", hex.EncodeToString(iv),
		"--clear_lead", "0",
		"--quiet")
	return out
}

func TestShakaByteExact(t *testing.T) {
	for _, c := range shakaCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := makeInput(t, dir, c)
			clr := readClearTrack(t, in)
			if clr.codec == H264 || clr.codec == HEVC {
				if got := countInbandParamSets(clr); (got > 0) != c.inband {
					t.Fatalf("input has %d samples with in-band SPS/PPS, want in-band=%v", got, c.inband)
				}
			}
			for _, scheme := range []Scheme{CBCS, CENC} {
				t.Run(scheme.String(), func(t *testing.T) {
					iv := shakaIVFor(scheme)
					enc := readShakaOutput(t, runShaka(t, dir, in, "video", scheme.String(), iv))
					if multi := compareWithShaka(t, scheme, iv, clr, enc); c.multi && multi == 0 {
						t.Fatal("no sample has several protected ranges: the case does not exercise what it names")
					}
				})
			}
		})
	}
}

// compareWithShaka requires our maps and encrypted samples to equal Shaka's;
// it returns how many samples have more than one protected range.
func compareWithShaka(t *testing.T, scheme Scheme, iv []byte, clr clearTrack, enc encTrack) (multi int) {
	t.Helper()
	if enc.scheme != scheme.String() {
		t.Fatalf("Shaka wrote scheme %q", enc.scheme)
	}
	if len(enc.samples) != len(clr.samples) {
		t.Fatalf("Shaka wrote %d samples, input has %d", len(enc.samples), len(clr.samples))
	}
	prot, err := clr.protector(scheme)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncryptor(scheme, shakaKey, iv, true)
	if err != nil {
		t.Fatal(err)
	}
	if e.Pattern() != enc.pattern {
		t.Fatalf("pattern %v, Shaka wrote %v", e.Pattern(), enc.pattern)
	}
	if e.PerSampleIVSize() != enc.ivSize {
		t.Fatalf("per-sample IV size %d, Shaka wrote %d", e.PerSampleIVSize(), enc.ivSize)
	}
	var subs []Subsample
	var protectedTotal, partial int
	for i, s := range clr.samples {
		subs, err = prot.Subsamples(subs, s)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !slices.Equal(subs, enc.subs[i]) {
			t.Fatalf("sample %d (%d bytes): subsamples\n got  %v\n want %v (Shaka)", i, len(s), subs, enc.subs[i])
		}
		ranges := 0
		for _, ss := range subs {
			protectedTotal += int(ss.Protected)
			if ss.Protected%16 != 0 {
				partial++
			}
			if ss.Protected > 0 {
				ranges++
			}
		}
		if ranges > 1 {
			multi++
		}
		buf := bytes.Clone(s)
		gotIV, err := e.EncryptSample(buf, subs)
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !bytes.Equal(gotIV, enc.ivs[i]) {
			t.Fatalf("sample %d: IV %x, Shaka wrote %x", i, gotIV, enc.ivs[i])
		}
		if !bytes.Equal(buf, enc.samples[i]) {
			t.Fatalf("sample %d: encrypted bytes differ from Shaka's (first difference at %d)", i, firstDiff(buf, enc.samples[i]))
		}
		// And Shaka's output decrypts back to the input.
		d, err := NewDecryptor(scheme, shakaKey, enc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		back := bytes.Clone(enc.samples[i])
		div := enc.ivs[i]
		if scheme == CBCS {
			div = iv
		}
		if err := d.DecryptSample(back, div, enc.subs[i]); err != nil || !bytes.Equal(back, s) {
			t.Fatalf("sample %d: decrypting Shaka's output did not give the input (err %v)", i, err)
		}
	}
	if protectedTotal == 0 {
		t.Fatal("nothing was protected")
	}
	t.Logf("%d samples byte-identical to Shaka; %d protected bytes, %d unaligned protected ranges, %d samples with several",
		len(clr.samples), protectedTotal, partial, multi)
	return multi
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// countInbandParamSets counts the samples that carry an SPS or PPS.
func countInbandParamSets(ct clearTrack) int {
	n := 0
	for _, s := range ct.samples {
		for pos := 0; pos+4 <= len(s); {
			l := int(s[pos])<<24 | int(s[pos+1])<<16 | int(s[pos+2])<<8 | int(s[pos+3])
			pos += 4
			if l == 0 || pos+l > len(s) {
				break
			}
			var ps bool
			if ct.codec == H264 {
				ps = s[pos]&0x1f == 7 || s[pos]&0x1f == 8
			} else {
				ps = (s[pos]>>1)&0x3f == 33 || (s[pos]>>1)&0x3f == 34
			}
			if ps {
				n++
				break
			}
			pos += l
		}
	}
	return n
}

// TestShakaByteExactAudio checks full-sample audio encryption: cbcs 0:0
// whole-block CBC with the trailing partial block clear, and cenc CTR with
// the per-sample IV incremented by 1, against Shaka Packager on AAC and Opus.
func TestShakaByteExactAudio(t *testing.T) {
	for _, codec := range []string{"aac", "libopus"} {
		t.Run(codec, func(t *testing.T) { shakaByteExactAudio(t, codec) })
	}
}

func shakaByteExactAudio(t *testing.T, codec string) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.mp4")
	run(t, testtools.FFmpeg(t), "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
		"-c:a", codec, "-b:a", "128k", "-f", "mp4", in)
	clr := readAudioTrack(t, in)
	for _, scheme := range []Scheme{CBCS, CENC} {
		t.Run(scheme.String(), func(t *testing.T) {
			iv := shakaIVFor(scheme)
			enc := readShakaOutput(t, runShaka(t, dir, in, "audio", scheme.String(), iv))
			if len(enc.samples) != len(clr) {
				t.Fatalf("Shaka wrote %d samples, input has %d", len(enc.samples), len(clr))
			}
			e, err := NewEncryptor(scheme, shakaKey, iv, false)
			if err != nil {
				t.Fatal(err)
			}
			if e.Pattern() != enc.pattern {
				t.Fatalf("pattern %v, Shaka wrote %v", e.Pattern(), enc.pattern)
			}
			tails := 0
			for i, s := range clr {
				buf := bytes.Clone(s)
				gotIV, err := e.EncryptSample(buf, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gotIV, enc.ivs[i]) {
					t.Fatalf("sample %d: IV %x, Shaka wrote %x", i, gotIV, enc.ivs[i])
				}
				if !bytes.Equal(buf, enc.samples[i]) {
					t.Fatalf("sample %d (%d bytes): bytes differ from Shaka's at %d", i, len(s), firstDiff(buf, enc.samples[i]))
				}
				if len(s)%16 != 0 {
					tails++
				}
			}
			if tails == 0 {
				t.Fatal("no sample with a partial final block: the trailing-clear rule was not exercised")
			}
			t.Logf("%d audio samples byte-identical to Shaka; Shaka's first subsample map: %v", len(clr), enc.subs[0])
		})
	}
}

func readAudioTrack(t testing.TB, path string) [][]byte {
	t.Helper()
	data, f := testtools.ReadMP4(t, path)
	for _, trak := range f.Moov.Traks {
		if stsd := trak.Mdia.Minf.Stbl.Stsd; stsd.Mp4a == nil && stsd.Opus == nil {
			continue
		}
		return trackSamples(t, data, trak)
	}
	t.Fatal("no AAC or Opus track")
	return nil
}

// trackSamples returns the bytes of every sample of a progressive file's
// track, each one contiguous range of data.
func trackSamples(t testing.TB, data []byte, trak *mp4.TrakBox) [][]byte {
	t.Helper()
	var out [][]byte
	for nr := uint32(1); nr <= trak.GetNrSamples(); nr++ {
		r, err := trak.GetRangesForSampleInterval(nr, nr)
		if err != nil || len(r) != 1 {
			t.Fatalf("sample %d ranges %v: %v", nr, r, err)
		}
		out = append(out, data[r[0].Offset:r[0].Offset+r[0].Size])
	}
	return out
}
