package interop

import (
	"crypto/md5"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// inputSet is one kind of source: an HD rendition (with audio) and an SD
// rendition (video only) of the same content, for per-type key runs.
type inputSet struct {
	name string
	hd   func(t *testing.T) string
	sd   func(t *testing.T) string
	// noFairPlay: the codecs are not FairPlay's, so drmpipe leaves FairPlay
	// out of their signaling (and says so) even when asked for it.
	noFairPlay bool
}

func sampleClip(t *testing.T) string {
	return filepath.Join(testtools.RepoRoot(t), "testdata", "sample.mp4")
}

var inputSets = []inputSet{
	{
		name: "h264_sample",
		hd:   sampleClip,
		sd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "h264", Width: 640, Height: 360, Seconds: 10, BFrames: 2})
		},
	},
	{
		name: "h264_generated",
		hd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "h264", Width: 1280, Height: 720, Seconds: 6, BFrames: 3, Audio: "aac"})
		},
		sd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "h264", Width: 640, Height: 360, Seconds: 6, BFrames: 3})
		},
	},
	{
		name: "hevc",
		hd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "hevc", Width: 1280, Height: 720, Seconds: 6, BFrames: 3, Audio: "aac"})
		},
		sd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "hevc", Width: 640, Height: 360, Seconds: 6, BFrames: 3})
		},
	},
	{
		name: "av1_opus",
		hd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "av1", Width: 1280, Height: 720, Seconds: 4, Audio: "opus"})
		},
		sd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "av1", Width: 640, Height: 360, Seconds: 4})
		},
		noFairPlay: true,
	},
	{
		// A fixed bitrate makes libvpx write superframes.
		name: "vp9_opus",
		hd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "vp9", Width: 1280, Height: 720, Seconds: 4, Audio: "opus", Bitrate: "1M"})
		},
		sd: func(t *testing.T) string {
			return testtools.MakeClip(t, testtools.ClipOptions{Codec: "vp9", Width: 640, Height: 360, Seconds: 4, Bitrate: "500k"})
		},
		noFairPlay: true,
	},
}

// drmsFor lists every DRM system the scheme allows (FairPlay is cbcs only).
func drmsFor(scheme string) string {
	if scheme == "cbcs" {
		return "widevine,playready,fairplay,clearkey"
	}
	return "widevine,playready,clearkey"
}

// TestPackageDecrypts is the core proof: for every input kind, scheme and
// keying, each packaged track decrypts with ffmpeg and with Shaka Packager
// to exactly the clear input's packets, does not without the key, and
// drmpipe verify accepts the output.
func TestPackageDecrypts(t *testing.T) {
	for _, set := range inputSets {
		for _, scheme := range []string{"cbcs", "cenc"} {
			for _, ks := range keySets {
				t.Run(set.name+"/"+scheme+"/"+ks.name, func(t *testing.T) {
					t.Parallel()
					inputs := []string{set.hd(t)}
					if ks.perType {
						inputs = append(inputs, set.sd(t))
					}
					out := filepath.Join(t.TempDir(), "out")
					args := []string{"package", "-o", out, "--segment-duration", "2s",
						"--scheme", scheme, "--drm", drmsFor(scheme)}
					args = append(args, ks.packageKeyArgs()...)
					r := mustRun(t, append(args, inputs...)...)

					checkOutput(t, out, out, scheme, ks, inputs, 0, true)
					if set.noFairPlay && scheme == "cbcs" {
						checkNoFairPlay(t, out, r.stderr)
					}

					mustRun(t, append(append([]string{"verify"}, ks.verifyKeyArgs()...), out)...)
				})
			}
		}
	}
}

// checkNoFairPlay: no playlist carries a FairPlay key, and the packager
// said why on stderr.
func checkNoFairPlay(t *testing.T, out, stderr string) {
	t.Helper()
	if !strings.Contains(stderr, "FairPlay is not signaled") {
		t.Errorf("no warning about FairPlay on stderr:\n%s", stderr)
	}
	for _, f := range filesUnder(t, out) {
		if !strings.HasSuffix(f, ".m3u8") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "com.apple.streamingkeydelivery") {
			t.Errorf("%s signals FairPlay for a codec FairPlay does not carry", f)
		}
		if filepath.Base(f) == "playlist.m3u8" && !strings.Contains(string(b), "#EXT-X-KEY:") {
			t.Errorf("%s has no key at all", f)
		}
	}
}

// TestDual: HLS on cbcs and DASH on cenc from one run; each segment set
// decrypts with its own scheme.
func TestDual(t *testing.T) {
	t.Parallel()
	in := sampleClip(t)
	ks := keySets[0]
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"package", "-o", out, "--dual", "--segment-duration", "2s",
		"--drm", "widevine,playready,fairplay,clearkey"}, ks.packageKeyArgs()...)
	mustRun(t, append(args, in)...)

	cbcsTracks := trackNames(testtools.TrackDirs(t, filepath.Join(out, "cbcs")))
	cencTracks := trackNames(testtools.TrackDirs(t, filepath.Join(out, "cenc")))
	if strings.Join(cbcsTracks, ",") != strings.Join(cencTracks, ",") {
		t.Errorf("cbcs tracks %v, cenc tracks %v: want the same set", cbcsTracks, cencTracks)
	}
	for _, scheme := range []string{"cbcs", "cenc"} {
		t.Run(scheme, func(t *testing.T) {
			// HLS uses the cbcs set, DASH the cenc set.
			checkOutput(t, out, filepath.Join(out, scheme), scheme, ks, []string{in}, 0, scheme == "cbcs")
		})
	}
	mustRun(t, append(append([]string{"verify"}, ks.verifyKeyArgs()...), out)...)
}

func trackNames(dirs []string) []string {
	var n []string
	for _, d := range dirs {
		n = append(n, filepath.Base(d))
	}
	return n
}

// TestClearLead: with --clear-lead 4s the first two 2 s segments carry the
// clear input's sample bytes, later ones are encrypted, and the whole track
// still decrypts to the clear packets.
func TestClearLead(t *testing.T) {
	in := sampleClip(t)
	for _, scheme := range []string{"cbcs", "cenc"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			ks := keySets[0]
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"package", "-o", out, "--segment-duration", "2s", "--clear-lead", "4s",
				"--scheme", scheme, "--drm", drmsFor(scheme)}, ks.packageKeyArgs()...)
			mustRun(t, append(args, in)...)

			checkOutput(t, out, out, scheme, ks, []string{in}, 2, true)

			streams := inputStreams(t, []string{in})
			for _, d := range testtools.TrackDirs(t, out) {
				whole := testtools.ConcatTrack(t, d)
				src := matchInput(t, probeStreams(t, whole)[0], streams)
				clear := clearMD5(t, src)
				initPath := filepath.Join(d, "init.mp4")
				segs := testtools.SegmentFiles(t, d)
				if len(segs) < 3 {
					t.Fatalf("%s: %d segments, want at least 3 for a 10 s input", d, len(segs))
				}
				// Samples of segments 1 and 2 must be the clear bytes as stored
				// in the input (mdat parsed with mp4ff, hashed like framemd5).
				n := 0
				for _, s := range segs[:2] {
					for _, sample := range testtools.SegmentSamples(t, initPath, s) {
						sum := md5.Sum(sample)
						if n >= len(clear) || hex.EncodeToString(sum[:]) != clear[n] {
							t.Fatalf("%s: sample %d in clear lead (%s) is not the clear input's", d, n, filepath.Base(s))
						}
						n++
					}
				}
				// Segment 3 starts at 4 s: its samples must be encrypted.
				third := testtools.SegmentSamples(t, initPath, segs[2])
				same := 0
				for i, sample := range third {
					sum := md5.Sum(sample)
					if n+i < len(clear) && hex.EncodeToString(sum[:]) == clear[n+i] {
						same++
					}
				}
				if same*2 > len(third) {
					t.Errorf("%s: %d of %d samples of segment 3 (after the 4 s clear lead) are clear", d, same, len(third))
				}
			}
		})
	}
}

// TestBadInput: each bad invocation exits non-zero, names the file and the
// problem on stderr, never prints key material, and leaves no output.
func TestBadInput(t *testing.T) {
	sample := sampleClip(t)
	const badKeyValue = "44556677"
	type tc struct {
		name string
		// setup returns the input files and output path; it may create files.
		setup    func(t *testing.T, dir string) (inputs []string, out string)
		extra    []string
		mention  []string // each must appear in stderr (case-insensitive); "{in}" = first input's base name, "{out}" = output path's base name
		problem  *regexp.Regexp
		preexist bool // create the output dir with a marker file first
	}
	keyArgs := []string{"--key", singleKey.flag()}
	cases := []tc{
		{
			name: "not_mp4",
			setup: func(t *testing.T, dir string) ([]string, string) {
				p := filepath.Join(dir, "not_video.mp4")
				write(t, p, []byte("this is a text file, not ISO BMFF\n"))
				return []string{p}, filepath.Join(dir, "out")
			},
			extra:   keyArgs,
			mention: []string{"{in}"},
		},
		{
			name: "missing_file",
			setup: func(t *testing.T, dir string) ([]string, string) {
				return []string{filepath.Join(dir, "no_such_input.mp4")}, filepath.Join(dir, "out")
			},
			extra:   keyArgs,
			mention: []string{"{in}"},
		},
		{
			name: "truncated",
			setup: func(t *testing.T, dir string) ([]string, string) {
				b, err := os.ReadFile(sample)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "truncated_sample.mp4")
				write(t, p, b[:len(b)*6/10])
				return []string{p}, filepath.Join(dir, "out")
			},
			extra:    keyArgs,
			mention:  []string{"{in}"},
			problem:  regexp.MustCompile(`(?i)trunc|eof|short|beyond|incomplete|size|end of file`),
			preexist: true,
		},
		{
			name: "unsupported_codec",
			setup: func(t *testing.T, dir string) ([]string, string) {
				return []string{testtools.MakeClip(t, testtools.ClipOptions{Codec: "mpeg4", Width: 320, Height: 240, Seconds: 2})}, filepath.Join(dir, "out")
			},
			extra:   keyArgs,
			mention: []string{"{in}"},
			problem: regexp.MustCompile(`(?i)unsupported|not supported|codec|mp4v`),
		},
		{
			name: "key_wrong_length",
			setup: func(t *testing.T, dir string) ([]string, string) {
				return []string{sample}, filepath.Join(dir, "out")
			},
			extra:   []string{"--key", "00112233:" + badKeyValue},
			mention: []string{"key"},
			problem: regexp.MustCompile(`(?i)length|32|16|hex|invalid|malformed`),
		},
		{
			name: "fairplay_with_cenc",
			setup: func(t *testing.T, dir string) ([]string, string) {
				return []string{sample}, filepath.Join(dir, "out")
			},
			extra:   append([]string{"--scheme", "cenc", "--drm", "fairplay"}, keyArgs...),
			mention: []string{"fairplay"},
			problem: regexp.MustCompile(`(?i)cbcs|cenc`),
		},
		{
			name: "output_is_file",
			setup: func(t *testing.T, dir string) ([]string, string) {
				p := filepath.Join(dir, "occupied_output")
				write(t, p, []byte("a file, not a directory\n"))
				return []string{sample}, p
			},
			extra:   keyArgs,
			mention: []string{"{out}"},
		},
	}
	// Sample tables that disagree with each other or point outside mdat:
	// refused before any output is written.
	for _, m := range testtools.TableMutants {
		cases = append(cases, tc{
			name: "table_" + m.Name,
			setup: func(t *testing.T, dir string) ([]string, string) {
				clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 240, Seconds: 2, GOPSeconds: 0.5, BFrames: 2,
					Audio: "aac", Fragmented: m.Fragmented})
				b, err := os.ReadFile(clip)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, m.Name+".mp4")
				write(t, p, m.Edit(t, b))
				return []string{p}, filepath.Join(dir, "out")
			},
			extra:   keyArgs,
			mention: append([]string{"{in}"}, m.Want...),
		})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			inputs, out := c.setup(t, dir)
			var marker []byte
			if c.preexist {
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				marker = []byte("keep me\n")
				write(t, filepath.Join(out, "keep.txt"), marker)
			}
			before, _ := os.ReadFile(out) // for output_is_file

			args := append(append([]string{"package", "-o", out, "--segment-duration", "2s"}, c.extra...), inputs...)
			r := drmpipe(t, args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit:\n%s", r)
			}
			low := strings.ToLower(r.stderr)
			for _, m := range c.mention {
				m = strings.ReplaceAll(m, "{in}", filepath.Base(inputs[0]))
				m = strings.ReplaceAll(m, "{out}", filepath.Base(out))
				if !strings.Contains(low, strings.ToLower(m)) {
					t.Errorf("stderr does not name %q:\n%s", m, r.stderr)
				}
			}
			if c.problem != nil && !c.problem.MatchString(r.stderr) {
				t.Errorf("stderr does not state the problem (want %s):\n%s", c.problem, r.stderr)
			}
			for _, k := range []string{singleKey.key, badKeyValue} {
				if strings.Contains(low, k) {
					t.Errorf("stderr prints key material:\n%s", r.stderr)
				}
			}

			switch {
			case c.name == "output_is_file":
				after, err := os.ReadFile(out)
				if err != nil || string(after) != string(before) {
					t.Errorf("existing file %s was changed (err %v)", out, err)
				}
			case c.preexist:
				entries, err := os.ReadDir(out)
				if err != nil {
					t.Fatalf("pre-existing output dir: %v", err)
				}
				got, _ := os.ReadFile(filepath.Join(out, "keep.txt"))
				if len(entries) != 1 || string(got) != string(marker) {
					t.Errorf("pre-existing output dir changed: %d entries, marker %q", len(entries), got)
				}
			default:
				if files := filesUnder(t, out); len(files) > 0 {
					t.Errorf("failed run left output behind: %v", files)
				}
			}
		})
	}
}

// timingInputs are the inputs whose timing packagers get wrong: B-frame
// delay (an offset edit), open and long GOPs, a start trimmed into a GOP
// and audio behind an empty edit.
//
// For the trimmed input, ffmpeg applies the edit list of a progressive file
// and of a fragmented one differently (it drops the audio packets outside
// the edit only in the former), so there the stored times are compared with
// the edit list ignored, and the edit itself separately.
var timingInputs = []struct {
	name string
	clip func(t *testing.T) string
	raw  bool
}{
	{"h264_sample", sampleClip, false},
	{"hevc_bframes", func(t *testing.T) string {
		return testtools.MakeClip(t, testtools.ClipOptions{Codec: "hevc", Width: 640, Height: 360, Seconds: 6, BFrames: 3, Audio: "aac"})
	}, false},
	{"open_gop", func(t *testing.T) string {
		return testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 6, BFrames: 3, OpenGOP: true, Audio: "aac"})
	}, false},
	{"long_gop", func(t *testing.T) string {
		return testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 6, GOPSeconds: 5, BFrames: 3, Audio: "aac"})
	}, false},
	{"trimmed", func(t *testing.T) string {
		return testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 8, BFrames: 3, Audio: "aac", TrimStart: 1.37})
	}, true},
	{"delayed_audio", func(t *testing.T) string {
		return testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 6, BFrames: 3, Audio: "aac", AudioDelay: 0.478})
	}, false},
}

// TestTiming: every packaged track keeps every packet's presentation and
// decode time (edit lists applied, as ffprobe presents them), and the MPD's
// SegmentTimeline is in that same post-edit time with no
// presentationTimeOffset, so a DASH player that applies the MPD on top of
// the init segment's edit list does not shift the samples twice.
func TestTiming(t *testing.T) {
	for _, in := range timingInputs {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			src := in.clip(t)
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, append(append([]string{"package", "-o", out, "--segment-duration", "2s", "--scheme", "cbcs"},
				keySets[0].packageKeyArgs()...), src)...)
			streams := inputStreams(t, []string{src})
			m, err := mpd.ReadFromFile(filepath.Join(out, "manifest.mpd"))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range testtools.TrackDirs(t, out) {
				whole := testtools.ConcatTrack(t, d)
				s := matchInput(t, probeStreams(t, whole)[0], streams)
				got := testtools.PacketTimes(t, whole, "0")
				checkTimeline(t, m, filepath.Base(d), got)
				if in.raw {
					comparePacketTimes(t, d, testtools.RawPacketTimes(t, whole, "0"), testtools.RawPacketTimes(t, src, s.spec))
					if g, w := editMediaTime(t, filepath.Join(d, "init.mp4"), s.codecType), editMediaTime(t, src, s.codecType); g != w {
						t.Errorf("%s: elst media_time %d, input %d", d, g, w)
					}
					continue
				}
				comparePacketTimes(t, d, got, testtools.PacketTimes(t, src, s.spec))
			}
		})
	}
}

// editMediaTime is the media_time of the first non-empty edit of the file's
// first track of kind ("video" or "audio"), or -1 without one.
func editMediaTime(t *testing.T, file, kind string) int64 {
	t.Helper()
	f, err := mp4.ReadMP4File(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	handler := map[string]string{"video": "vide", "audio": "soun"}[kind]
	moov := f.Moov
	if moov == nil && f.Init != nil {
		moov = f.Init.Moov
	}
	for _, trak := range moov.Traks {
		if trak.Mdia.Hdlr.HandlerType != handler {
			continue
		}
		if trak.Edts != nil {
			for _, elst := range trak.Edts.Elst {
				for _, e := range elst.Entries {
					if e.MediaTime != -1 {
						return e.MediaTime
					}
				}
			}
		}
		return -1
	}
	t.Fatalf("%s: no %s track", file, kind)
	return 0
}

func comparePacketTimes(t *testing.T, dir string, got, want []testtools.Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d packets, input has %d", dir, len(got), len(want))
		return
	}
	near := func(a, b time.Duration) bool { return a-b <= time.Microsecond && b-a <= time.Microsecond }
	for i := range want {
		if !near(got[i].PTS, want[i].PTS) || !near(got[i].DTS, want[i].DTS) {
			t.Errorf("%s: packet %d PTS/DTS %v/%v, input %v/%v", dir, i, got[i].PTS, got[i].DTS, want[i].PTS, want[i].DTS)
			return
		}
		if got[i].Key != want[i].Key {
			t.Errorf("%s: packet %d key flag %v, input %v", dir, i, got[i].Key, want[i].Key)
			return
		}
	}
}

// checkTimeline compares the MPD timeline of the representation rep with
// the presentation times ffprobe reads from its media: the first S@t is the
// earliest presented time (clamped at 0: samples before it are cut by the
// edit), and no presentationTimeOffset moves it again.
func checkTimeline(t *testing.T, m *mpd.MPD, rep string, pkts []testtools.Packet) {
	t.Helper()
	for _, as := range m.Periods[0].AdaptationSets {
		for _, r := range as.Representations {
			if r.Id != rep {
				continue
			}
			st := as.SegmentTemplate
			if st.PresentationTimeOffset != nil && *st.PresentationTimeOffset != 0 {
				t.Errorf("%s: presentationTimeOffset %d; the edit list is already in the init segment", rep, *st.PresentationTimeOffset)
			}
			first := time.Duration(math.MaxInt64)
			for _, p := range pkts {
				first = min(first, p.PTS)
			}
			first = max(first, 0)
			s0 := st.SegmentTimeline.S[0]
			at := time.Duration(float64(*s0.T) / float64(*st.Timescale) * float64(time.Second))
			if d := at - first; d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("%s: first S@t is %v, the media presents from %v", rep, at, first)
			}
			return
		}
	}
	t.Errorf("no Representation %q in the MPD", rep)
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// filesUnder lists regular files below dir (none if dir does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}
