package verify

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// packVideoOnly encodes a 2 s H.264 or HEVC clip and packages its video
// alone with Shaka Packager under the test key.
func packVideoOnly(t *testing.T, bin, dir, codec, scheme string) string {
	t.Helper()
	enc := []string{"-c:v", "libx264", "-g", "30", "-bf", "2"}
	if codec == "hevc" {
		enc = []string{"-c:v", "libx265", "-x265-params", "log-level=error:keyint=30", "-tag:v", "hvc1"}
	}
	clip := filepath.Join(dir, codec+".mp4")
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not found")
	}
	run(t, dir, "ffmpeg", append([]string{"-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "2"}, append(enc, clip)...)...)
	out := filepath.Join(dir, codec+"-"+scheme)
	run(t, dir, "mkdir", "-p", out)
	run(t, out, bin, "in="+clip+",stream=video,init_segment=video/init.mp4,segment_template=video/$Number$.m4s,playlist_name=video.m3u8",
		"--enable_raw_key_encryption", "--keys", "label=:key_id="+testKIDHex+":key="+testKeyHex,
		"--protection_scheme", scheme, "--clear_lead", "0", "--protection_systems", "Widevine",
		"--segment_duration", "1", "--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8")
	return out
}

// Issue 17, defect 3: a --key whose KID no track uses reported "0
// decrypted ... OK".
func TestKeyVerdicts(t *testing.T) {
	bin := testtools.ShakaPackager(t)
	tmp := t.TempDir()
	key := testKey(t)
	absent := key
	absent.KID[0] ^= 0xff
	for _, codec := range []string{"h264", "hevc"} {
		for _, scheme := range []string{"cbcs", "cenc"} {
			dir := packVideoOnly(t, bin, tmp, codec, scheme)
			name := codec + "-" + scheme
			r := verify(t, dir, key)
			if !r.OK() || len(r.Tracks) != 1 || r.Tracks[0].DecryptedSamples != 60 {
				t.Errorf("%s, right key:\n%s", name, r)
			}
			expectProblems(t, verify(t, dir, absent), ".: --key: key KID "+absent.KID.String()+" not used by any track",
				"video/init.mp4: moov/trak/mdia/minf/stbl/stsd/encv/sinf/schi/tenc: track is encrypted with KID "+key.KID.String()+" but no --key was given for it")
		}
	}
}

// Per-track-type keys: each track with its own KID; a key for one track
// only leaves the other reported.
func TestPerTrackKeys(t *testing.T) {
	bin := testtools.ShakaPackager(t)
	tmp := t.TempDir()
	clip := makeClip(t, tmp)
	const audioKID, audioKey = "ffeeddccbbaa99887766554433221100", "0f0e0d0c0b0a09080706050403020100"
	out := filepath.Join(tmp, "per_track")
	run(t, tmp, "mkdir", "-p", out)
	run(t, out, bin,
		"in="+clip+",stream=video,init_segment=video/init.mp4,segment_template=video/$Number$.m4s,drm_label=SD",
		"in="+clip+",stream=audio,init_segment=audio/init.mp4,segment_template=audio/$Number$.m4s,drm_label=AUDIO",
		"--enable_raw_key_encryption", "--keys", "label=SD:key_id="+testKIDHex+":key="+testKeyHex+",label=AUDIO:key_id="+audioKID+":key="+audioKey,
		"--protection_scheme", "cbcs", "--clear_lead", "0", "--protection_systems", "Widevine",
		"--segment_duration", "2", "--mpd_output", "manifest.mpd")
	video := testKey(t)
	akid, _ := drm.ParseKeyID(audioKID)
	audio := Key{KID: akid, Key: testtools.Unhex(t, audioKey)}
	if r := verify(t, out, video, audio); !r.OK() || r.Tracks[0].DecryptedSamples == 0 || r.Tracks[1].DecryptedSamples == 0 {
		t.Errorf("both keys:\n%s", r)
	}
	expectProblems(t, verify(t, out, video), "audio/init.mp4: moov/trak/mdia/minf/stbl/stsd/enca/sinf/schi/tenc: track is encrypted with KID "+akid.String()+" but no --key was given for it")
	wrong := audio
	wrong.Key = bytes.Repeat([]byte{0x42}, 16)
	expectProblems(t, verify(t, out, video, wrong), "audio/init.mp4: ", "decrypted samples are not valid mp4a")
}

func TestVideoSyntaxBreaches(t *testing.T) {
	if emulationBreach([]byte{0x65, 0x88, 0, 0, 3, 1, 0x80}) != -1 {
		t.Error("valid emulation prevention flagged")
	}
	for _, n := range [][]byte{{0x65, 0, 0, 1, 0x80}, {0x65, 0, 0, 0, 0x80}, {0x65, 0, 0, 3, 4, 0x80}} {
		if emulationBreach(n) < 0 {
			t.Errorf("% x: breach not found", n)
		}
	}
	if cabacStartOK([]byte{0xff, 0x80}, 0) || cabacStartOK([]byte{0xff, 0x00}, 0) || !cabacStartOK([]byte{0xfe, 0xff}, 0) {
		t.Error("codIOffset 510/511 rule")
	}
	v := newVideoSyntax(false, nil, nil)
	if msg := v.nal([]byte{0x06, 0x05, 0x00}); msg == "" {
		t.Error("NAL ending in 0x00 accepted")
	}
	if msg := v.nal([]byte{0x00, 0x80}); msg == "" {
		t.Error("H.264 NAL type 0 accepted")
	}
	// Random NAL units (fixed seed): the last-byte rule alone rejects
	// 1/256 of them, 16 of 4096 on average.
	rng := rand.NewChaCha8([32]byte{1})
	rejected := 0
	for range 4096 {
		n := make([]byte, 64)
		_, _ = rng.Read(n)
		n[0] = 0x06 // SEI: no slice header needed
		if v.nal(n) != "" {
			rejected++
		}
	}
	if rejected < 8 || rejected > 32 {
		t.Errorf("%d of 4096 random NAL units rejected, want about 16", rejected)
	}
}

// A decode that ffmpeg cannot run here (a demuxer or decoder its build
// lacks) leaves a key unproven; bytes that do not decode make it wrong.
func TestDecodeFailureKinds(t *testing.T) {
	c := &checker{ctx: context.Background()}
	bin := testtools.FFmpeg(t)
	if _, err := c.decode(bin, "nosuchformat", []byte{0, 0, 0, 1, 0x65}); !errors.Is(err, errDecodeUnavailable) {
		t.Errorf("unknown input format: %v, want errDecodeUnavailable", err)
	}
	garbage := append([]byte{0, 0, 0, 1, 0x65, 0x88}, testtools.RandomBytes(t, 4096)...)
	if _, err := c.decode(bin, "h264", garbage); err == nil || errors.Is(err, errDecodeUnavailable) {
		t.Errorf("H.264 without parameter sets: %v, want a decode error", err)
	}
}
