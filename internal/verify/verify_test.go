package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Test key (not a secret; used only for these fixtures).
const (
	testKIDHex = "00112233445566778899aabbccddeeff"
	testKeyHex = "000102030405060708090a0b0c0d0e0f"
)

func testKey(t *testing.T) Key {
	kid, _ := drm.ParseKeyID(testKIDHex)
	k, _ := hex.DecodeString(testKeyHex)
	return Key{KID: kid, Key: k}
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// makeClip encodes a 4 s H.264 (closed 2 s GOP, B-frames) + AAC clip.
func makeClip(t *testing.T, dir string) string {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not found")
	}
	run(t, dir, ffmpeg, "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4",
		"-c:v", "libx264", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "2",
		"-c:a", "aac", "-b:a", "64k", "in.mp4")
	return filepath.Join(dir, "in.mp4")
}

// shaka packages clip into out with Shaka Packager. singleFile makes one
// file per stream (DASH SegmentBase, HLS byte ranges).
func shaka(t *testing.T, bin, clip, out, scheme, systems string, singleFile bool) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	streams := []string{
		"in=" + clip + ",stream=video,init_segment=video/init.mp4,segment_template=video/$Number$.m4s,playlist_name=video.m3u8",
		"in=" + clip + ",stream=audio,init_segment=audio/init.mp4,segment_template=audio/$Number$.m4s,playlist_name=audio.m3u8",
	}
	if singleFile {
		streams = []string{
			"in=" + clip + ",stream=video,output=video/video.mp4,playlist_name=video.m3u8",
			"in=" + clip + ",stream=audio,output=audio/audio.mp4,playlist_name=audio.m3u8",
		}
	}
	args := append(streams, "--enable_raw_key_encryption",
		"--keys", "label=:key_id="+testKIDHex+":key="+testKeyHex,
		"--protection_scheme", scheme, "--clear_lead", "0",
		"--protection_systems", systems, "--segment_duration", "2",
		"--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8")
	run(t, out, bin, args...)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, file string, f func(string) string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := f(string(b))
	if s == string(b) {
		t.Fatalf("edit of %s changed nothing", file)
	}
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectProblems asserts that every expected message fragment is reported
// and that nothing else is.
func expectProblems(t *testing.T, r *Report, want ...string) {
	t.Helper()
	matched := make([]bool, len(want))
	for _, p := range r.Problems {
		ok := false
		for i, w := range want {
			if strings.Contains(p.String(), w) {
				matched[i], ok = true, true
			}
		}
		if !ok {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	for i, w := range want {
		if !matched[i] {
			t.Errorf("missing problem containing %q; got:\n%s", w, r)
		}
	}
}

// verify checks dir with ffmpeg to prove keys; when it finds no problem,
// every key given must be proven (every fixture here has H.264, x265 HEVC
// with WPP, or AAC), so each right-key case is also a check that proving
// does not reject a right key.
func verify(t *testing.T, dir string, keys ...Key) *Report {
	t.Helper()
	r, err := DirWith(context.Background(), dir, keys, Options{FFmpeg: testtools.FFmpeg(t)})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		for _, k := range r.Keys {
			if k.Verdict != KeyProven {
				t.Errorf("%s: %s", dir, k)
			}
		}
	}
	return r
}

func TestShakaPackagerOutput(t *testing.T) {
	bin := testtools.ShakaPackager(t)
	tmp := t.TempDir()
	clip := makeClip(t, tmp)
	key := testKey(t)
	cbcs := filepath.Join(tmp, "cbcs")
	cencDir := filepath.Join(tmp, "cenc")
	single := filepath.Join(tmp, "single")
	shaka(t, bin, clip, cbcs, "cbcs", "Widevine,PlayReady,FairPlay", false)
	// Shaka writes a FairPlay EXT-X-KEY even for cenc, which the linter
	// rightly rejects; the clean cenc fixture signals Widevine and PlayReady.
	shaka(t, bin, clip, cencDir, "cenc", "Widevine,PlayReady", false)
	shaka(t, bin, clip, single, "cbcs", "Widevine,PlayReady,FairPlay", true)

	t.Run("clean", func(t *testing.T) {
		for _, dir := range []string{cbcs, cencDir, single} {
			r := verify(t, dir, key)
			if !r.OK() {
				t.Errorf("%s: problems:\n%s", filepath.Base(dir), r)
			}
			if len(r.Tracks) != 2 {
				t.Fatalf("%s: %d tracks, want 2:\n%s", filepath.Base(dir), len(r.Tracks), r)
			}
			for _, tr := range r.Tracks {
				// 4 s at 30 fps = 120 video samples; 48 kHz AAC ≈ 188 frames.
				if tr.Samples < 100 || tr.DecryptedSamples != tr.Samples || tr.Scheme != map[string]string{cbcs: "cbcs", cencDir: "cenc", single: "cbcs"}[dir] || tr.KID != key.KID {
					t.Errorf("%s: track %+v", filepath.Base(dir), tr)
				}
				if filepath.Base(dir) != "single" && tr.Segments != 2 {
					t.Errorf("%s: track %s has %d segments, want 2", filepath.Base(dir), tr.Dir, tr.Segments)
				}
			}
			// Without keys the signaling is still checked; nothing is decrypted.
			r = verify(t, dir)
			if !r.OK() || r.Tracks[0].DecryptedSamples != 0 {
				t.Errorf("%s without keys:\n%s", filepath.Base(dir), r)
			}
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		wrong := key
		wrong.Key = bytes.Repeat([]byte{0x42}, 16)
		// The video finds it too: by the syntax checks (each breach has
		// probability ~1/256) or else by decoding.
		withoutVideo := func(r *Report) *Report {
			n := len(r.Problems)
			r.Problems = slices.DeleteFunc(r.Problems, func(p Problem) bool {
				return strings.HasPrefix(p.String(), "video/init.mp4: ") &&
					(strings.Contains(p.String(), "decrypted samples are not valid avc1") || strings.Contains(p.String(), "does not decode (wrong key?)"))
			})
			if len(r.Problems) != n-1 {
				t.Errorf("want one video problem:\n%s", r)
			}
			return r
		}
		// cbcs: the AAC check finds it.
		expectProblems(t, withoutVideo(verify(t, cbcs, wrong)), "audio/init.mp4: ", "decrypted samples are not valid mp4a")
		// cenc: the PlayReady 4.0 CHECKSUM and the AAC check find it.
		expectProblems(t, withoutVideo(verify(t, cencDir, wrong)), "PlayReady CHECKSUM does not match", "decrypted samples are not valid mp4a")
	})

	t.Run("wrong default_KID", func(t *testing.T) {
		dir := filepath.Join(tmp, "bad_kid")
		copyDir(t, cbcs, dir)
		edit(t, filepath.Join(dir, "manifest.mpd"), func(s string) string {
			return strings.Replace(s, `cenc:default_KID="00112233-4455-6677-8899-aabbccddeeff"`, `cenc:default_KID="ffffffff-4455-6677-8899-aabbccddeeff"`, 1)
		})
		r := verify(t, dir, key)
		expectProblems(t, r, "manifest.mpd: MPD/Period[0]/AdaptationSet[0]/ContentProtection[0]: cenc:default_KID ffffffff-4455-6677-8899-aabbccddeeff differs from tenc default_KID 00112233-4455-6677-8899-aabbccddeeff in video/init.mp4")
	})

	t.Run("missing pssh", func(t *testing.T) {
		dir := filepath.Join(tmp, "no_pssh")
		copyDir(t, cbcs, dir)
		cp := regexp.MustCompile(`(?s)(<ContentProtection value="MSPR 2.0"[^>]*>).*?(</ContentProtection>)`)
		edit(t, filepath.Join(dir, "manifest.mpd"), func(s string) string { return cp.ReplaceAllString(s, "$1$2") })
		for _, init := range []string{"video/init.mp4", "audio/init.mp4"} {
			removePSSH(t, filepath.Join(dir, init), drm.PlayReadySystemID)
		}
		expectProblems(t, verify(t, dir, key),
			"manifest.mpd: MPD/Period[0]/AdaptationSet[0]/ContentProtection[1]: playready is declared but has no pssh in the MPD or in init segment video/init.mp4",
			"manifest.mpd: MPD/Period[0]/AdaptationSet[1]/ContentProtection[1]: playready is declared but has no pssh in the MPD or in init segment audio/init.mp4")
	})

	t.Run("PlayReady 4.0 with cbcs", func(t *testing.T) {
		dir := filepath.Join(tmp, "pr40")
		copyDir(t, cbcs, dir)
		h, err := playready.NewHeader(cenc.CENC, []drm.KeyID{key.KID}, [][]byte{key.Key}, "")
		if err != nil {
			t.Fatal(err)
		}
		box := base64.StdEncoding.EncodeToString(playready.PSSH(h).Marshal())
		pro := base64.StdEncoding.EncodeToString(h.MarshalPRO())
		edit(t, filepath.Join(dir, "manifest.mpd"), func(s string) string {
			s = regexp.MustCompile(`(<ContentProtection value="MSPR 2.0"[^>]*>\s*<cenc:pssh>)[^<]*`).ReplaceAllString(s, "${1}"+box)
			return regexp.MustCompile(`<mspr:pro>[^<]*`).ReplaceAllString(s, "<mspr:pro>"+pro)
		})
		expectProblems(t, verify(t, dir, key),
			"ContentProtection[1]/cenc:pssh: PlayReady header version 4.0.0.0 with cbcs: AESCBC needs WRMHEADER 4.3",
			"ContentProtection[1]/mspr:pro: PlayReady header version 4.0.0.0 with cbcs",
			`ContentProtection[1]/cenc:pssh: PlayReady ALGID "AESCTR" with cbcs`,
			`ContentProtection[1]/mspr:pro: PlayReady ALGID "AESCTR" with cbcs`)
	})

	t.Run("FairPlay in cenc playlist", func(t *testing.T) {
		dir := filepath.Join(tmp, "fp_cenc")
		copyDir(t, cencDir, dir)
		edit(t, filepath.Join(dir, "video.m3u8"), func(s string) string {
			return strings.Replace(s, "#EXTINF", `#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="skd://`+testKIDHex+`",KEYFORMATVERSIONS="1",KEYFORMAT="com.apple.streamingkeydelivery"`+"\n#EXTINF", 1)
		})
		expectProblems(t, verify(t, dir, key),
			"video.m3u8: EXT-X-KEY group before segment[0]/EXT-X-KEY[2]: FairPlay key with METHOD=SAMPLE-AES-CTR on cenc content")
	})

	t.Run("two keys with one KEYFORMAT", func(t *testing.T) {
		dir := filepath.Join(tmp, "dup_key")
		copyDir(t, cbcs, dir)
		edit(t, filepath.Join(dir, "audio.m3u8"), func(s string) string {
			line := regexp.MustCompile(`(?m)^#EXT-X-KEY:.*edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"$`).FindString(s)
			return strings.Replace(s, line, line+"\n"+line, 1)
		})
		expectProblems(t, verify(t, dir, key),
			`audio.m3u8: EXT-X-KEY group before segment[0]/EXT-X-KEY[2]: second EXT-X-KEY with KEYFORMAT "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"`)
	})

	t.Run("missing segment", func(t *testing.T) {
		dir := filepath.Join(tmp, "no_seg")
		copyDir(t, cbcs, dir)
		if err := os.Remove(filepath.Join(dir, "video", "2.m4s")); err != nil {
			t.Fatal(err)
		}
		r := verify(t, dir, key)
		expectProblems(t, r, "manifest.mpd: MPD/Period[0]/AdaptationSet[0]/Representation[0]: referenced file video/2.m4s does not exist")
		if r.Tracks[0].Segments != 1 {
			t.Errorf("video track: %+v", r.Tracks[0])
		}
	})

	t.Run("session key mismatch", func(t *testing.T) {
		dir := filepath.Join(tmp, "session")
		copyDir(t, cbcs, dir)
		line := regexp.MustCompile(`(?m)^#EXT-X-KEY:.*com.apple.streamingkeydelivery"$`).FindString(readFile(t, filepath.Join(dir, "video.m3u8")))
		edit(t, filepath.Join(dir, "master.m3u8"), func(s string) string {
			sk := strings.Replace(strings.Replace(line, "#EXT-X-KEY:", "#EXT-X-SESSION-KEY:", 1), `KEYFORMATVERSIONS="1"`, `KEYFORMATVERSIONS="2"`, 1)
			return strings.Replace(s, "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-INDEPENDENT-SEGMENTS\n"+sk, 1)
		})
		expectProblems(t, verify(t, dir, key), `master.m3u8: EXT-X-SESSION-KEY[0]: attributes (METHOD=SAMPLE-AES KEYFORMAT="com.apple.streamingkeydelivery" KEYFORMATVERSIONS="2") differ`)
	})
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// removePSSH rewrites an init segment without the pssh boxes of one system.
func removePSSH(t *testing.T, file string, sys drm.SystemID) {
	t.Helper()
	_, f := testtools.ReadMP4(t, file)
	removed := 0
	for _, p := range f.Moov.RemovePsshs() {
		if [16]byte(p.SystemID) == [16]byte(sys) {
			removed++
			continue
		}
		f.Moov.AddChild(p)
	}
	if removed == 0 {
		t.Fatalf("%s has no pssh of %s", file, sys)
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
