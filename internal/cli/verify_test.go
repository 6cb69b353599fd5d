package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// wrongKeyTrials is how many random wrong keys each case tries: a check
// that caught random bytes only with probability 1/256 per NAL unit (what
// verify had before) passes some of them on 2 s of video.
const wrongKeyTrials = 20

// Issue 17, defect 3: verify said OK for a wrong key (right KID) on
// video-only output, where no PlayReady checksum and no audio prove the key.
// drmpipe's own output, Widevine signaling only, H.264, HEVC (x265: WPP),
// AV1 and VP9, cbcs and cenc: the right key is proven by decoding, each of
// wrongKeyTrials random keys is wrong, a KID the output does not use is a
// problem, and without ffmpeg the key is "not proven" (exit 2) unless
// --allow-unproven.
// AV1 and VP9 (whose decrypted samples verify does not parse) run a
// quarter of the trials, to keep the test short.
func TestVerifyKeyProof(t *testing.T) {
	t.Setenv("DRMPIPE_FFMPEG", testtools.FFmpeg(t))
	key := testKID + ":" + testKey
	for _, codec := range []string{"h264", "hevc", "av1", "vp9"} {
		o := testtools.ClipOptions{Codec: codec, Width: 320, Height: 180, Seconds: 2, GOPSeconds: 1, BFrames: 2}
		trials := wrongKeyTrials
		if codec == "av1" || codec == "vp9" {
			trials /= 4
		}
		if codec == "vp9" {
			o.Bitrate = "300k" // superframes (a hidden and a shown frame in one sample)
		}
		clip := testtools.MakeClip(t, o)
		for _, scheme := range []string{"cbcs", "cenc"} {
			t.Run(codec+"-"+scheme, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				if code, _, stderr := run(t, "package", "-q", "-o", out, "--key", key, "--scheme", scheme, "--drm", "widevine", "--segment-duration", "1s", clip); code != 0 {
					t.Fatalf("package: %s", stderr)
				}
				code, stdout, stderr := run(t, "verify", "--key", key, out)
				if code != 0 || !strings.Contains(stdout, "proven (decrypted video decoded by ffmpeg)") {
					t.Fatalf("right key: exit %d\n%s%s", code, stdout, stderr)
				}
				for range trials {
					wrong := testKID + ":" + testtools.RandomHex(t, 16)
					code, stdout, stderr := run(t, "verify", "--key", wrong, out)
					if code != 1 || !strings.Contains(stdout, ": wrong") || !strings.Contains(stderr, "wrong key") {
						t.Errorf("wrong key %s: exit %d, want 1\n%s%s", wrong, code, stdout, stderr)
					}
				}
				absent := "ffeeddccbbaa99887766554433221100:" + testKey
				if code, _, stderr := run(t, "verify", "--key", absent, out); code != 1 || !strings.Contains(stderr, "not used by any track") {
					t.Errorf("absent KID: exit %d, want 1\n%s", code, stderr)
				}
				t.Setenv("DRMPIPE_FFMPEG", filepath.Join(t.TempDir(), "no-ffmpeg"))
				code, stdout, stderr = run(t, "verify", "--key", key, out)
				if code != exitUnproven || !strings.Contains(stdout, "NOT PROVEN") || !strings.Contains(stderr, "1 key(s) not proven") {
					t.Errorf("no ffmpeg: exit %d, want %d\n%s%s", code, exitUnproven, stdout, stderr)
				}
				if code, stdout, _ := run(t, "verify", "--allow-unproven", "--key", key, out); code != 0 || !strings.Contains(stdout, "1 key(s) not proven") {
					t.Errorf("no ffmpeg, --allow-unproven: exit %d\n%s", code, stdout)
				}
			})
		}
	}
}

// Key rotation (one init segment per key period): each period's key is
// proven on its own, and a wrong key for the second period is found.
func TestVerifyKeyProofRotation(t *testing.T) {
	t.Setenv("DRMPIPE_FFMPEG", testtools.FFmpeg(t))
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 4, GOPSeconds: 1, BFrames: 2})
	out := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := run(t, "package", "-q", "-o", out, "--key", rotKey(0), "--key", rotKey(1), "--key-period", "2s",
		"--drm", "widevine", "--segment-duration", "1s", clip); code != 0 {
		t.Fatalf("package: %s", stderr)
	}
	code, stdout, stderr := run(t, "verify", "--key", rotKey(0), "--key", rotKey(1), out)
	if code != 0 || strings.Count(stdout, "proven (decrypted video decoded by ffmpeg)") != 2 {
		t.Fatalf("right keys: exit %d\n%s%s", code, stdout, stderr)
	}
	kid1, _, _ := strings.Cut(rotKey(1), ":")
	id1, err := drm.ParseKeyID(kid1)
	if err != nil {
		t.Fatal(err)
	}
	for range wrongKeyTrials / 2 {
		code, stdout, stderr := run(t, "verify", "--key", rotKey(0), "--key", kid1+":"+testtools.RandomHex(t, 16), out)
		if code != 1 || !strings.Contains(stdout, "key "+id1.String()+": wrong") {
			t.Errorf("wrong key for period 1: exit %d, want 1\n%s%s", code, stdout, stderr)
		}
	}
}

// Opus audio with a key of its own (per-track-type keys, cbcs: no PlayReady
// checksum): the audio key is proven by decoding the decrypted Opus, and
// random wrong audio keys are wrong.
func TestVerifyKeyProofOpus(t *testing.T) {
	t.Setenv("DRMPIPE_FFMPEG", testtools.FFmpeg(t))
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 2, GOPSeconds: 1, Audio: "opus"})
	out := filepath.Join(t.TempDir(), "out")
	video := testKID + ":" + testKey
	audioKID := "ffeeddccbbaa99887766554433221100"
	if code, _, stderr := run(t, "package", "-q", "-o", out, "--key", "SD="+video, "--key", "AUDIO="+audioKID+":"+testKey,
		"--drm", "widevine", "--segment-duration", "1s", clip); code != 0 {
		t.Fatalf("package: %s", stderr)
	}
	code, stdout, stderr := run(t, "verify", "--key", video, "--key", audioKID+":"+testKey, out)
	if code != 0 || !strings.Contains(stdout, "proven (decrypted Opus decoded by ffmpeg)") || !strings.Contains(stdout, "proven (decrypted video decoded by ffmpeg)") {
		t.Fatalf("right keys: exit %d\n%s%s", code, stdout, stderr)
	}
	id, err := drm.ParseKeyID(audioKID)
	if err != nil {
		t.Fatal(err)
	}
	for range wrongKeyTrials / 4 {
		code, stdout, stderr := run(t, "verify", "--key", video, "--key", audioKID+":"+testtools.RandomHex(t, 16), out)
		if code != 1 || !strings.Contains(stdout, "key "+id.String()+": wrong") {
			t.Errorf("wrong audio key: exit %d, want 1\n%s%s", code, stdout, stderr)
		}
	}
}

// HEVC without entry points (x265 --no-wpp, no tiles): ffmpeg's clean
// decode proves nothing, so the right key is "not proven" (exit 2), and a
// wrong key never passes.
func TestVerifyKeyProofHEVCWithoutWPP(t *testing.T) {
	t.Setenv("DRMPIPE_FFMPEG", testtools.FFmpeg(t))
	dir := t.TempDir()
	clip := filepath.Join(dir, "nowpp.mp4")
	testtools.RunIn(t, dir, testtools.FFmpeg(t), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "2",
		"-c:v", "libx265", "-x265-params", "log-level=error:keyint=30:min-keyint=30:scenecut=0:open-gop=0:wpp=0", "-tag:v", "hvc1", clip)
	out := filepath.Join(dir, "out")
	key := testKID + ":" + testKey
	if code, _, stderr := run(t, "package", "-q", "-o", out, "--key", key, "--drm", "widevine", "--segment-duration", "1s", clip); code != 0 {
		t.Fatalf("package: %s", stderr)
	}
	code, stdout, stderr := run(t, "verify", "--key", key, out)
	if code != exitUnproven || !strings.Contains(stdout, "HEVC without entry points") {
		t.Fatalf("right key: exit %d, want %d\n%s%s", code, exitUnproven, stdout, stderr)
	}
	for range wrongKeyTrials / 4 {
		if code, stdout, stderr := run(t, "verify", "--key", testKID+":"+testtools.RandomHex(t, 16), out); code == 0 {
			t.Errorf("wrong key passed\n%s%s", stdout, stderr)
		}
	}
}
