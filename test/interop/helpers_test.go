package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// kidKey is a key ID and key, both 32 hex digits. All keys in this file are
// test-only values.
type kidKey struct{ kid, key string }

func (k kidKey) flag() string { return k.kid + ":" + k.key }

var (
	singleKey = kidKey{"11111111222233334444555555555555", "8f9e0d1c2b3a49586776859493a2b1c0"}
	typeKeys  = map[string]kidKey{
		"AUDIO": {"a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
		"SD":    {"5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d", "f0e1d2c3b4a5968778695a4b3c2d1e0f"},
		"HD":    {"4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d", "13579bdf02468ace13579bdf02468ace"},
	}
)

// keySet is how a test keys a packaging run.
type keySet struct {
	name    string
	perType bool // one key per track type (AUDIO, SD, HD) instead of one for all
}

var keySets = []keySet{{"single_key", false}, {"per_type_keys", true}}

// packageKeyArgs returns the --key flags for drmpipe package.
func (k keySet) packageKeyArgs() []string {
	if !k.perType {
		return []string{"--key", singleKey.flag()}
	}
	var args []string
	for _, typ := range sortedTypes() {
		args = append(args, "--key", typ+"="+typeKeys[typ].flag())
	}
	return args
}

// verifyKeyArgs returns the --key flags for drmpipe verify.
func (k keySet) verifyKeyArgs() []string {
	if !k.perType {
		return []string{"--key", singleKey.flag()}
	}
	var args []string
	for _, typ := range sortedTypes() {
		args = append(args, "--key", typeKeys[typ].flag())
	}
	return args
}

// all maps every key ID of the set to its key, for Shaka Packager.
func (k keySet) all() map[string]string {
	if !k.perType {
		return map[string]string{singleKey.kid: singleKey.key}
	}
	m := map[string]string{}
	for _, v := range typeKeys {
		m[v.kid] = v.key
	}
	return m
}

// forType returns the key a track of the given type must be encrypted with.
func (k keySet) forType(typ string) kidKey {
	if !k.perType {
		return singleKey
	}
	return typeKeys[typ]
}

func sortedTypes() []string {
	var ts []string
	for typ := range typeKeys {
		ts = append(ts, typ)
	}
	sort.Strings(ts)
	return ts
}

// trackType classifies a stream like the packager's --key TYPE= selector:
// AUDIO, or SD/HD by the picture height.
func trackType(s stream) string {
	switch {
	case s.codecType == "audio":
		return "AUDIO"
	case s.height <= 576:
		return "SD"
	case s.height <= 1080:
		return "HD"
	}
	return "UHD1"
}

// stream is one elementary stream of a file as ffprobe sees it.
type stream struct {
	file      string
	spec      string // ffmpeg stream specifier within file: "v:0", "a:0"
	codecType string // "video" or "audio"
	codecName string // "h264", "hevc", "aac", ...
	width     int
	height    int
}

// probeStreams lists the audio and video streams of file.
func probeStreams(t *testing.T, file string) []stream {
	t.Helper()
	out, err := exec.Command(testtools.FFprobe(t), "-hide_banner", "-loglevel", "error",
		"-show_entries", "stream=codec_type,codec_name,width,height", "-of", "compact=p=0:nk=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var streams []stream
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Split(line, "|") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		typ := f["codec_type"]
		if typ != "video" && typ != "audio" {
			continue
		}
		w, _ := strconv.Atoi(f["width"])
		h, _ := strconv.Atoi(f["height"])
		streams = append(streams, stream{file: file, spec: typ[:1] + ":" + strconv.Itoa(counts[typ]),
			codecType: typ, codecName: f["codec_name"], width: w, height: h})
		counts[typ]++
	}
	return streams
}

// inputStreams lists the streams of all inputs.
func inputStreams(t *testing.T, inputs []string) []stream {
	t.Helper()
	var all []stream
	for _, in := range inputs {
		all = append(all, probeStreams(t, in)...)
	}
	return all
}

// matchInput finds the one input stream an output track was made from:
// same kind, codec and picture size.
func matchInput(t *testing.T, out stream, inputs []stream) stream {
	t.Helper()
	var found []stream
	for _, in := range inputs {
		if in.codecType == out.codecType && in.codecName == out.codecName &&
			in.width == out.width && in.height == out.height {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("output track %s (%s %s %dx%d) matches %d input streams, want 1",
			out.file, out.codecType, out.codecName, out.width, out.height, len(found))
	}
	return found[0]
}

// clearMD5s caches the packet hashes of clear inputs across tests.
var clearMD5s = struct {
	sync.Mutex
	m map[string][]string
}{m: map[string][]string{}}

func clearMD5(t *testing.T, s stream) []string {
	t.Helper()
	k := s.file + "|" + s.spec
	clearMD5s.Lock()
	h, ok := clearMD5s.m[k]
	clearMD5s.Unlock()
	if ok {
		return h
	}
	h = testtools.FrameMD5(t, s.file, s.spec, "")
	clearMD5s.Lock()
	clearMD5s.m[k] = h
	clearMD5s.Unlock()
	return h
}

// firstDiff describes where two hash lists first differ.
func firstDiff(got, want []string) string {
	if len(got) != len(want) {
		return strconv.Itoa(len(got)) + " packets, clear input has " + strconv.Itoa(len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return "packet " + strconv.Itoa(i) + " differs (" + strconv.Itoa(testtools.SameFrames(got, want)) + "/" + strconv.Itoa(len(want)) + " equal)"
		}
	}
	return "identical"
}

// trackCheck says what checkTrack expects of one packaged track.
type trackCheck struct {
	dir    string   // track directory with init.mp4 + seg_N.m4s
	scheme string   // "cbcs" or "cenc"
	keys   keySet   // keys the run was given
	inputs []stream // all clear input streams
	// clearLeadSegments is how many leading segments must hold clear samples.
	clearLeadSegments int
	hls               bool // the track is in the HLS presentation: needs playlist.m3u8
}

// checkTrack proves one packaged track with the independent tools and
// returns the input stream it was matched to.
func checkTrack(t *testing.T, c trackCheck) stream {
	t.Helper()
	initPath := filepath.Join(c.dir, "init.mp4")
	whole := testtools.ConcatTrack(t, c.dir)
	outs := probeStreams(t, whole)
	if len(outs) != 1 {
		t.Fatalf("%s: %d streams in the track, want 1", c.dir, len(outs))
	}
	in := matchInput(t, outs[0], c.inputs)
	typ := trackType(in)
	want := c.keys.forType(typ)

	prot := testtools.ReadProtection(t, initPath)
	if prot.Scheme != c.scheme {
		t.Errorf("%s: scheme_type %q, want %q", initPath, prot.Scheme, c.scheme)
	}
	if prot.KID != want.kid {
		t.Errorf("%s: default_KID %s, want the %s key's %s", initPath, prot.KID, typ, want.kid)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "playlist.m3u8")); c.hls && err != nil {
		t.Errorf("%s: no media playlist: %v", c.dir, err)
	}

	clear := clearMD5(t, in)

	// ffmpeg, decrypting with the track's key.
	if got := testtools.FrameMD5(t, whole, "0", want.key); !slices.Equal(got, clear) {
		t.Errorf("%s: ffmpeg-decrypted packets vs clear %s %s: %s", c.dir, filepath.Base(in.file), in.spec, firstDiff(got, clear))
	}

	// Shaka Packager, given every key of the run; it picks by KID.
	dec := filepath.Join(t.TempDir(), "shaka_decrypted.mp4")
	testtools.ShakaDecrypt(t, whole, dec, c.keys.all())
	if got := testtools.FrameMD5(t, dec, "0", ""); !slices.Equal(got, clear) {
		t.Errorf("%s: Shaka-decrypted packets vs clear %s %s: %s", c.dir, filepath.Base(in.file), in.spec, firstDiff(got, clear))
	}

	// Without the key the packets must not be the clear ones (clear-lead
	// segments excepted).
	segs := testtools.SegmentFiles(t, c.dir)
	clearSamples := 0
	for _, s := range segs[:min(c.clearLeadSegments, len(segs))] {
		clearSamples += len(testtools.SegmentSamples(t, initPath, s))
	}
	enc := testtools.EncryptedFrameMD5(t, whole, "0", "")
	encrypted := len(clear) - clearSamples
	if same := testtools.SameFrames(enc, clear) - clearSamples; encrypted > 0 && same*2 > encrypted {
		t.Errorf("%s: without a key %d of %d encrypted-range packets equal the clear input: not encrypted", c.dir, same, encrypted)
	}
	if c.keys.perType {
		// Another type's key must not decrypt this track.
		other := typeKeys["HD"]
		if typ == "HD" {
			other = typeKeys["SD"]
		}
		got := testtools.EncryptedFrameMD5(t, whole, "0", other.key)
		if same := testtools.SameFrames(got, clear) - clearSamples; encrypted > 0 && same*2 > encrypted {
			t.Errorf("%s: a different type's key decrypts %d of %d packets", c.dir, same, encrypted)
		}
	}
	return in
}

// checkOutput checks the root manifests and every track of a packaged
// output directory (or of one scheme's subdirectory in dual mode), and that
// each input stream became exactly one track.
func checkOutput(t *testing.T, root, tracksDir, scheme string, keys keySet, inputs []string, clearLeadSegments int, hls bool) {
	t.Helper()
	for _, m := range []string{"manifest.mpd", "master.m3u8"} {
		if _, err := os.Stat(filepath.Join(root, m)); err != nil {
			t.Errorf("missing %s: %v", m, err)
		}
	}
	streams := inputStreams(t, inputs)
	dirs := testtools.TrackDirs(t, tracksDir)
	if len(dirs) != len(streams) {
		t.Errorf("%d tracks in %s for %d input streams", len(dirs), tracksDir, len(streams))
	}
	var mu sync.Mutex
	seen := map[string]string{}
	t.Run("tracks", func(t *testing.T) {
		for _, d := range dirs {
			t.Run(filepath.Base(d), func(t *testing.T) {
				t.Parallel()
				in := checkTrack(t, trackCheck{dir: d, scheme: scheme, keys: keys, inputs: streams, clearLeadSegments: clearLeadSegments, hls: hls})
				mu.Lock()
				defer mu.Unlock()
				k := in.file + "|" + in.spec
				if prev, dup := seen[k]; dup {
					t.Errorf("tracks %s and %s both come from %s %s", prev, d, filepath.Base(in.file), in.spec)
				}
				seen[k] = d
			})
		}
	})
}
