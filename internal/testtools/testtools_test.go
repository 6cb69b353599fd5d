package testtools

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Demo key for this self-test only; never used for real content.
const (
	testKID = "00112233445566778899aabbccddeeff"
	testKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	testIV  = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
)

func TestMain(m *testing.M) { os.Exit(RunCleaningClips(m)) }

// shakaEncrypt packages one stream of in into dir/init.mp4 +
// dir/seg_$Number$.m4s with Shaka Packager's raw-key encryption: the
// reference output the helpers are proven against.
func shakaEncrypt(t *testing.T, in, stream, dir, scheme string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, ShakaPackager(t),
		fmt.Sprintf("in=%s,stream=%s,init_segment=%s,segment_template=%s",
			in, stream, filepath.Join(dir, "init.mp4"), filepath.Join(dir, "seg_$Number$.m4s")),
		"--enable_raw_key_encryption",
		"--keys", fmt.Sprintf("label=:key_id=%s:key=%s", testKID, testKey),
		"--iv", testIV,
		"--protection_scheme", scheme,
		"--clear_lead", "0",
		"--segment_duration", "2",
		"--quiet")
}

// TestHelpersAgainstShaka proves the decrypt-and-compare harness on output
// made by the reference packager: with the key every packet matches the
// clear input, without it (or with a wrong key) the video does not.
func TestHelpersAgainstShaka(t *testing.T) {
	clip := MakeClip(t, ClipOptions{Codec: "h264", Width: 640, Height: 360, Seconds: 8, BFrames: 2, Audio: "aac"})
	for _, scheme := range []string{"cbcs", "cenc"} {
		for _, tc := range []struct{ name, stream, shakaStream string }{
			{"video", "v:0", "video"},
			{"audio", "a:0", "audio"},
		} {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), tc.name)
				shakaEncrypt(t, clip, tc.shakaStream, dir, scheme)

				prot := ReadProtection(t, filepath.Join(dir, "init.mp4"))
				if prot.Scheme != scheme || prot.KID != testKID {
					t.Fatalf("protection = %+v, want scheme %s kid %s", prot, scheme, testKID)
				}

				segs := SegmentFiles(t, dir)
				if len(segs) < 4 {
					t.Fatalf("got %d segments for an 8 s clip with 2 s segments, want >= 4", len(segs))
				}
				whole := ConcatTrack(t, dir)

				clear := FrameMD5(t, clip, tc.stream, "")
				dec := FrameMD5(t, whole, "0", testKey)
				assertSame(t, "ffmpeg-decrypted", dec, clear)

				var nSamples int
				for _, s := range segs {
					nSamples += len(SegmentSamples(t, filepath.Join(dir, "init.mp4"), s))
				}
				if nSamples != len(clear) {
					t.Errorf("segments hold %d samples, clear input has %d packets", nSamples, len(clear))
				}

				enc := FrameMD5(t, whole, "0", "")
				if n := SameFrames(enc, clear); n > len(clear)/2 {
					t.Errorf("without the key %d of %d packets match the clear input; encryption not detected", n, len(clear))
				}
				wrong := strings.Repeat("5a", 16)
				if n := SameFrames(FrameMD5(t, whole, "0", wrong), clear); n > len(clear)/2 {
					t.Errorf("with a wrong key %d of %d packets match the clear input", n, len(clear))
				}

				out := filepath.Join(t.TempDir(), "shaka_clear.mp4")
				ShakaDecrypt(t, whole, out, map[string]string{testKID: testKey})
				assertSame(t, "shaka-decrypted", FrameMD5(t, out, "0", ""), clear)

				in := PacketTimes(t, clip, tc.stream)
				got := PacketTimes(t, whole, "0")
				if len(in) != len(got) {
					t.Fatalf("packet count %d, input %d", len(got), len(in))
				}
				for i := range in {
					if in[i].PTS != got[i].PTS {
						t.Fatalf("packet %d PTS %v, input %v", i, got[i].PTS, in[i].PTS)
					}
				}
			})
		}
	}
}

func assertSame(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d packets, clear input has %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: packet %d md5 %s, clear input %s", what, i, got[i], want[i])
		}
	}
}

func TestSegmentFilesNumericOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"seg_10.m4s", "seg_2.m4s", "seg_1.m4s", "init.mp4", "playlist.m3u8",
		"seg_3.m4s", "seg_4.m4s", "seg_5.m4s", "seg_6.m4s", "seg_7.m4s", "seg_8.m4s", "seg_9.m4s"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	segs := SegmentFiles(t, dir)
	for i, s := range segs {
		if want := fmt.Sprintf("seg_%d.m4s", i+1); filepath.Base(s) != want {
			t.Fatalf("position %d: %s, want %s", i, filepath.Base(s), want)
		}
	}
	whole := ConcatTrack(t, dir)
	b, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	want := "init.mp4"
	for i := 1; i <= 10; i++ {
		want += fmt.Sprintf("seg_%d.m4s", i)
	}
	if string(b) != want {
		t.Fatalf("concatenation = %q, want %q", b, want)
	}
}

func TestIsFragmented(t *testing.T) {
	prog := MakeClip(t, ClipOptions{Width: 320, Height: 180, Seconds: 2})
	frag := MakeClip(t, ClipOptions{Width: 320, Height: 180, Seconds: 2, Fragmented: true})
	if isFragmented(t, prog) {
		t.Errorf("%s: progressive clip reported fragmented", prog)
	}
	if !isFragmented(t, frag) {
		t.Errorf("%s: fragmented clip not detected", frag)
	}
	// The cache hands out private copies: same bytes, different paths.
	again := MakeClip(t, ClipOptions{Width: 320, Height: 180, Seconds: 2})
	a, _ := os.ReadFile(prog)
	b, _ := os.ReadFile(again)
	if again == prog || string(a) != string(b) {
		t.Errorf("cached clip: path %s vs %s, equal bytes %v", again, prog, string(a) == string(b))
	}
}

func TestClipOptionsRejectsUnknown(t *testing.T) {
	for _, o := range []ClipOptions{
		{Codec: "theora"},
		{Audio: "vorbis"},
		{BFrames: -1},
	} {
		if _, err := o.withDefaults().ffmpegArgs(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestRedactHidesKeys(t *testing.T) {
	got := strings.Join(redact([]string{"-decryption_key", testKey, "--keys", "label=:key_id=x:key=" + testKey, "-i", "f"}), " ")
	if strings.Contains(got, testKey) {
		t.Fatalf("key material left in %q", got)
	}
}
