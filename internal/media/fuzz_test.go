package media

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

var genCorpus = flag.Bool("gen-fuzz-corpus", false, "regenerate testdata/fuzz/FuzzOpen from small ffmpeg inputs")

// sentinels are the errors every Open failure must wrap.
var sentinels = []error{ErrNotMP4, ErrTruncated, ErrMalformed, ErrUnsupportedCodec, ErrNoSyncSample, ErrEncryptedInput, ErrNoTracks}

// FuzzOpen writes arbitrary bytes to a file, opens it and reads every
// sample: it must never panic, and every failure must wrap a sentinel.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08ftyp"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp, err := os.CreateTemp(dir, "in*.mp4")
		if err != nil {
			t.Fatal(err)
		}
		name := tmp.Name()
		defer os.Remove(name)
		if _, err := tmp.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := tmp.Close(); err != nil {
			t.Fatal(err)
		}
		mf, err := Open(name)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		defer mf.Close()
		checkOpened(t, data, mf)
	})
}

// checkOpened checks what a successful Open promises about the file holding
// data: every sample lies inside the payload of one mdat (or imda) box, found
// here with a box walker independent of the reader; no video sample is
// empty; and ReadSamples returns every sample's bytes.
func checkOpened(t *testing.T, data []byte, mf *File) {
	t.Helper()
	var media [][2]int64
	for _, b := range testtools.TopBoxes(data) {
		start, end := b.Payload()
		switch b.Type {
		case "imda":
			media = append(media, [2]int64{start + 4, end})
		case "mdat":
			media = append(media, [2]int64{start, end})
		}
	}
	inMedia := func(s Sample) bool {
		for _, m := range media {
			if s.Offset >= m[0] && s.Offset <= m[1]-int64(s.Size) {
				return true
			}
		}
		return false
	}
	var buf []byte
	var err error
	for _, tr := range mf.Tracks() {
		for i, s := range tr.Samples {
			if !inMedia(s) {
				t.Fatalf("track %d sample %d (offset %d, %d bytes) lies outside every mdat payload %v", tr.ID, i+1, s.Offset, s.Size, media)
			}
			if tr.Kind == Video && s.Size == 0 {
				t.Fatalf("track %d: video sample %d is empty", tr.ID, i+1)
			}
		}
		buf, err = mf.ReadSamples(buf, tr.Samples)
		if err != nil {
			t.Fatalf("ReadSamples after a successful Open: %v", err)
		}
		var want int
		for _, s := range tr.Samples {
			want += int(s.Size)
		}
		if len(buf) != want {
			t.Fatalf("ReadSamples returned %d bytes, want %d", len(buf), want)
		}
		_ = tr.Duration()
	}
}

// TestGenerateFuzzCorpus rewrites the committed seed corpus when run with
// -gen-fuzz-corpus: tiny valid inputs (progressive, fragmented, HEVC+AC-3)
// and broken variants of them, each under 20 KB.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gen-fuzz-corpus to regenerate testdata/fuzz/FuzzOpen")
	}
	dir := t.TempDir()
	tiny := []string{"-f", "lavfi", "-i", "testsrc2=size=32x32:rate=10", "-f", "lavfi", "-i", "sine=sample_rate=8000", "-t", "0.4"}
	prog := filepath.Join(dir, "prog.mp4")
	ffmpeg(t, concat(tiny, []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "2", "-bf", "2", "-c:a", "aac", "-b:a", "8k", prog})...)
	frag := filepath.Join(dir, "frag.mp4")
	ffmpeg(t, "-i", prog, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets", frag)
	fragBDO := filepath.Join(dir, "frag_bdo.mp4")
	ffmpeg(t, "-i", prog, "-c", "copy", "-movflags", "frag_keyframe+empty_moov", fragBDO)
	hevc := filepath.Join(dir, "hevc.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-f", "lavfi", "-i", "sine=sample_rate=32000", "-t", "0.1",
		"-c:v", "libx265", "-x265-params", "log-level=error:keyint=2", "-tag:v", "hvc1", "-c:a", "ac3", "-b:a", "32k", hevc)
	seeds := map[string][]byte{}
	for name, p := range map[string]string{"prog": prog, "frag": frag, "frag_bdo": fragBDO, "hevc_ac3": hevc} {
		d, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = d
		seeds[name+"_truncated"] = d[:len(d)*2/3]
		broken := append([]byte(nil), d...)
		for i := 64; i < len(broken); i += 97 {
			broken[i] ^= 0x5a
		}
		seeds[name+"_bitflips"] = broken
	}
	// Sample tables that disagree with each other or with the media data.
	for _, m := range testtools.TableMutants {
		src := seeds["prog"]
		if m.Fragmented {
			src = seeds["frag"]
		}
		seeds["table_"+m.Name] = m.Edit(t, src)
	}
	out := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, d := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d)
		if len(body) >= 20<<10 {
			t.Fatalf("seed %s is %d bytes, keep seeds under 20 KB", name, len(body))
		}
		if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzSeedsValid checks that the committed valid seeds still open and
// carry a video and an audio track, so the corpus exercises the full path,
// and that the committed sample table mutants are refused.
func TestFuzzSeedsValid(t *testing.T) {
	for _, name := range []string{"prog", "frag", "frag_bdo", "hevc_ac3"} {
		data := fuzzSeed(t, name)
		p := filepath.Join(t.TempDir(), name+".mp4")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		tr := f.Tracks()
		if len(tr) != 2 || tr[0].Kind != Video || tr[1].Kind != Audio || len(tr[0].Samples) == 0 || len(tr[1].Samples) == 0 {
			t.Errorf("seed %s: unexpected tracks %+v", name, tr)
		}
		f.Close()
	}
	// The sample table mutants of those seeds stay refused.
	for _, m := range testtools.TableMutants {
		name := "table_" + m.Name
		f, err := Open(writeInput(t, name, fuzzSeed(t, name)))
		if err == nil {
			f.Close()
			t.Errorf("seed %s: Open accepted it", name)
			continue
		}
		for _, w := range m.Want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("seed %s: error %q does not contain %q", name, err, w)
			}
		}
	}
}

// fuzzSeed returns the bytes of the committed FuzzOpen seed name.
func fuzzSeed(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpen", name))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSpace(strings.TrimPrefix(string(raw), "go test fuzz v1\n"))
	body = strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")")
	data, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("seed %s: %v", name, err)
	}
	return []byte(data)
}
