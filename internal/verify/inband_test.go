package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// shakaRotationKey is the key of crypto period n under Shaka Packager's raw
// key rotation: KID and key rotated left by n bytes (its RawKeySource, "only
// intended for testing purpose").
func shakaRotationKey(t *testing.T, n int) Key {
	k := testKey(t)
	var kid drm.KeyID
	for i := range kid {
		kid[i] = k.KID[(i+n)%16]
	}
	key := make([]byte, 16)
	for i := range key {
		key[i] = k.Key[(i+n)%16]
	}
	return Key{KID: kid, Key: key}
}

// TestInbandRotation: Shaka Packager's in-band key rotation (all-zero tenc
// KID, a seig group and pssh boxes in every fragment, no default_KID or pssh
// in the MPD) passes with a key per crypto period; a missing period key, a
// wrong one, and a fragment whose seig KID disagrees with its moof pssh and
// its playlist are reported.
func TestInbandRotation(t *testing.T) {
	bin := testtools.ShakaPackager(t)
	tmp := t.TempDir()
	clip := makeClip(t, tmp)
	for _, scheme := range []string{"cbcs", "cenc"} {
		t.Run(scheme, func(t *testing.T) {
			out := filepath.Join(tmp, "rot-"+scheme)
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, out, bin,
				"in="+clip+",stream=video,init_segment=video/init.mp4,segment_template=video/$Number$.m4s,playlist_name=video.m3u8",
				"in="+clip+",stream=audio,init_segment=audio/init.mp4,segment_template=audio/$Number$.m4s,playlist_name=audio.m3u8",
				"--enable_raw_key_encryption", "--keys", "label=:key_id="+testKIDHex+":key="+testKeyHex,
				"--crypto_period_duration", "2", "--protection_scheme", scheme, "--clear_lead", "0",
				"--protection_systems", "Widevine,PlayReady,CommonSystem", "--segment_duration", "2",
				"--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8")
			k0, k1 := shakaRotationKey(t, 0), shakaRotationKey(t, 1)
			r := verify(t, out, k0, k1)
			if !r.OK() {
				t.Fatalf("both period keys:\n%s", r)
			}
			// Shaka picks a fragment's crypto period by its first decode
			// time: video, two frames early under B-frames, stays in
			// period 0; audio switches at 2 s.
			want := map[string][]drm.KeyID{"video": {k0.KID}, "audio": {k0.KID, k1.KID}}
			for _, tr := range r.Tracks {
				if !slices.Equal(tr.KIDs, want[tr.Dir]) || tr.DecryptedSamples != tr.Samples {
					t.Errorf("%s: KIDs %v, %d of %d samples decrypted", tr.Dir, tr.KIDs, tr.DecryptedSamples, tr.Samples)
				}
			}
			if r := verify(t, out); !r.OK() {
				t.Errorf("structure alone:\n%s", r)
			}
			expectProblems(t, verify(t, out, k0),
				"audio/init.mp4: key period 1 (KID "+k1.KID.String()+", from the seig sample groups) has no --key")
			wrong := k1
			wrong.Key = bytes.Repeat([]byte{0x42}, 16)
			wantWrong := []string{"audio/init.mp4: key period 1 (KID " + k1.KID.String() + "): ", "not valid mp4a"}
			if scheme == "cenc" {
				wantWrong = append(wantWrong, "PlayReady CHECKSUM does not match the key given for KID "+k1.KID.String())
			}
			expectProblems(t, verify(t, out, k0, wrong), wantWrong...)

			// A fragment whose seig names another KID than its moof pssh
			// boxes and the playlist's EXT-X-KEY.
			bad := filepath.Join(tmp, "bad-"+scheme)
			copyDir(t, out, bad)
			other := k1.KID
			other[15] ^= 0xff
			edit(t, filepath.Join(bad, "audio", "2.m4s"), func(s string) string {
				return string(bytes.Replace([]byte(s), k1.KID[:], other[:], 1))
			})
			expectProblems(t, verify(t, bad),
				"audio/2.m4s: segment[0]/moof[0]/pssh[0]: common pssh KIDs do not include KID "+other.String(),
				"audio/2.m4s: segment[0]/moof[0]/pssh[1]: PlayReady header KIDs",
				"audio/2.m4s: segment[0]/moof[0]/pssh[2]: Widevine pssh key_ids",
				"audio.m3u8: EXT-X-KEY group before segment[1]/EXT-X-KEY[1]: PlayReady header KIDs",
				"audio.m3u8: EXT-X-KEY group before segment[1]/EXT-X-KEY[2]: KEYID "+k1.KID.String()+" differs from the segments' KID "+other.String(),
				"audio.m3u8: EXT-X-KEY group before segment[1]/EXT-X-KEY[2]: Widevine pssh key_ids")

			// The second segment under one EXT-X-KEY group switching KID.
			bad2 := filepath.Join(tmp, "bad2-"+scheme)
			copyDir(t, out, bad2)
			other = k0.KID
			other[15] ^= 0xff
			edit(t, filepath.Join(bad2, "video", "2.m4s"), func(s string) string {
				return string(bytes.Replace([]byte(s), k0.KID[:], other[:], 1))
			})
			expectProblems(t, verify(t, bad2),
				"video/2.m4s: segment[0]/moof[0]/pssh[",
				"video/2.m4s: segment[0]/moof[0]/traf: encrypted with KID "+other.String()+", but the EXT-X-KEY tags before it name KID "+k0.KID.String())
		})
	}
}
