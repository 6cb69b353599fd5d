package interop

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// inputSet is one kind of source: an HD rendition (with audio) and an SD
// rendition (video only) of the same content, for per-type key runs.
type inputSet struct {
	name string
	hd   func(t *testing.T) string
	sd   func(t *testing.T) string
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
					mustRun(t, append(args, inputs...)...)

					checkOutput(t, out, out, scheme, ks, inputs, 0, true)

					mustRun(t, append(append([]string{"verify"}, ks.verifyKeyArgs()...), out)...)
				})
			}
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

	cbcsTracks := trackNames(trackDirs(t, filepath.Join(out, "cbcs")))
	cencTracks := trackNames(trackDirs(t, filepath.Join(out, "cenc")))
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
			for _, d := range trackDirs(t, out) {
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

// TestTiming: packaged tracks keep every packet's presentation time, with
// B-frame composition offsets and AAC priming (edit lists) intact.
func TestTiming(t *testing.T) {
	for _, set := range []inputSet{inputSets[0], inputSets[2]} {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			in := set.hd(t)
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, append(append([]string{"package", "-o", out, "--segment-duration", "2s", "--scheme", "cbcs"},
				keySets[0].packageKeyArgs()...), in)...)
			streams := inputStreams(t, []string{in})
			for _, d := range trackDirs(t, out) {
				whole := testtools.ConcatTrack(t, d)
				src := matchInput(t, probeStreams(t, whole)[0], streams)
				want := testtools.PacketTimes(t, in, src.spec)
				got := testtools.PacketTimes(t, whole, "0")
				if len(got) != len(want) {
					t.Errorf("%s: %d packets, input %s has %d", d, len(got), src.spec, len(want))
					continue
				}
				if got[0].PTS != want[0].PTS {
					t.Errorf("%s: first packet PTS %v, input %v", d, got[0].PTS, want[0].PTS)
				}
				for i := range want {
					if diff := got[i].PTS - want[i].PTS; diff > time.Microsecond || diff < -time.Microsecond {
						t.Errorf("%s: packet %d PTS %v, input %v", d, i, got[i].PTS, want[i].PTS)
						break
					}
					if got[i].Key != want[i].Key {
						t.Errorf("%s: packet %d key flag %v, input %v", d, i, got[i].Key, want[i].Key)
						break
					}
				}
			}
		})
	}
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
