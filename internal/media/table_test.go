package media

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// tableClips makes the progressive and the fragmented input the table
// mutants edit: H.264 with B-frames (ctts) and a sync sample every 0.5 s,
// plus AAC.
func tableClips(t *testing.T) (prog, frag []byte) {
	t.Helper()
	o := testtools.ClipOptions{Width: 320, Height: 240, Seconds: 2, GOPSeconds: 0.5, BFrames: 2, Audio: "aac"}
	read := func(p string) []byte {
		d, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	prog = read(testtools.MakeClip(t, o))
	o.Fragmented = true
	frag = read(testtools.MakeClip(t, o))
	return prog, frag
}

func writeInput(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTableMutants: inputs whose sample tables disagree with each other or
// point outside mdat are refused at Open with the file, track and table
// named.
func TestTableMutants(t *testing.T) {
	prog, frag := tableClips(t)

	// The editing itself keeps a file valid: re-encoding moov and moof
	// unchanged (and a moov that grows by a free box, which moves the
	// media data of the faststart file) must still open.
	controls := map[string][]byte{
		"prog_reencoded": testtools.EditMoov(t, prog, func(*mp4.MoovBox) {}),
		"prog_moov_grown": testtools.EditMoov(t, prog, func(m *mp4.MoovBox) {
			m.AddChild(mp4.NewFreeBox(make([]byte, 100)))
		}),
		"frag_reencoded": testtools.EditMoof(t, frag, 0, func(*mp4.MoofBox) {}),
	}
	for name, data := range controls {
		f, err := Open(writeInput(t, name, data))
		if err != nil {
			t.Fatalf("control %s: %v", name, err)
		}
		checkOpened(t, data, f)
		f.Close()
	}

	for _, m := range testtools.TableMutants {
		t.Run(m.Name, func(t *testing.T) {
			src := prog
			if m.Fragmented {
				src = frag
			}
			p := writeInput(t, m.Name, m.Edit(t, src))
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("Open accepted the mutant")
			}
			t.Log(err)
			want := ErrMalformed
			if m.PastEOF {
				want = ErrTruncated
			}
			if !errors.Is(err, want) {
				t.Errorf("error does not wrap %v", want)
			}
			if !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("error does not start with the file name")
			}
			for _, w := range m.Want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q", w)
				}
			}
		})
	}
}

// TestRandomTableMutations: random byte changes in the moov and moof boxes
// of valid inputs either make Open fail with one of the package's errors or
// leave a file whose every sample lies inside mdat (checkOpened); never a
// panic.
func TestRandomTableMutations(t *testing.T) {
	rng := rand.New(rand.NewSource(16_10))
	dir := t.TempDir()
	const perSeed = 100
	for _, name := range []string{"prog", "frag", "hevc_ac3"} {
		seed := fuzzSeed(t, name)
		var meta [][2]int64
		for _, b := range testtools.TopBoxes(seed) {
			if b.Type == "moov" || b.Type == "moof" {
				meta = append(meta, [2]int64{b.Start + b.Header, b.Start + b.Size})
			}
		}
		refused := 0
		for i := range perSeed {
			data := append([]byte(nil), seed...)
			for range 1 + rng.Intn(4) {
				m := meta[rng.Intn(len(meta))]
				pos := m[0] + rng.Int63n(m[1]-m[0])
				data[pos] = byte(rng.Intn(256))
			}
			p := filepath.Join(dir, "mutant.mp4")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err != nil {
				refused++
				if !wrapsSentinel(err) {
					t.Fatalf("%s mutant %d: error wraps no sentinel: %v", name, i, err)
				}
				continue
			}
			checkOpened(t, data, f)
			f.Close()
		}
		t.Logf("%s: %d of %d mutants refused", name, refused, perSeed)
	}
}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
