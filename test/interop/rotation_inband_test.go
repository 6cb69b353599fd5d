package interop

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// System IDs of the pssh boxes in-band signaling puts into every moof.
const (
	systemWidevine  = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
	systemPlayReady = "9a04f079-9840-4286-ab92-e65be0885f95"
	systemCommon    = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
)

// checkInbandStructure holds the in-band rotation structure that Shaka
// Packager's output (--crypto_period_duration) and drmpipe's
// (--rotation-signaling inband) must both have (DASH-IF IOP Part 6 §9.3):
// the MPD has one Period and no cenc:default_KID, cenc:pssh or mspr:pro;
// each track has one init segment; every fragment has a seig sample group
// and, in its moof, a Widevine pssh naming the seig KID, a PlayReady pssh
// and a W3C common pssh listing exactly that KID. It returns, per track
// directory, the seig KID of each segment.
func checkInbandStructure(t *testing.T, mpdPath string, dirs []string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(mpdPath)
	if err != nil {
		t.Fatal(err)
	}
	mpd := string(b)
	for _, banned := range []string{"default_KID", "cenc:pssh", "mspr:pro"} {
		if strings.Contains(mpd, banned) {
			t.Errorf("%s: carries %s (in-band signaling: the KIDs are in the segments)", mpdPath, banned)
		}
	}
	if n := strings.Count(mpd, "<Period"); n != 1 {
		t.Errorf("%s: %d Periods, want 1", mpdPath, n)
	}
	kids := map[string][]string{}
	for _, dir := range dirs {
		if extra, _ := filepath.Glob(filepath.Join(dir, "init_p*.mp4")); len(extra) > 0 {
			t.Errorf("%s: per-period init segments %v under in-band signaling", dir, extra)
		}
		for _, seg := range testtools.SegmentFiles(t, dir) {
			for fi, fk := range testtools.SegmentFragmentKeys(t, seg) {
				where := fmt.Sprintf("%s fragment %d", seg, fi)
				if fk.SeigKID == "" {
					t.Errorf("%s: no seig sample group", where)
					continue
				}
				kid, _ := hex.DecodeString(fk.SeigKID)
				if wv, ok := fk.PSSHData[systemWidevine]; !ok || !bytes.Contains(wv, kid) {
					t.Errorf("%s: no Widevine pssh naming KID %s", where, fk.SeigKID)
				}
				if _, ok := fk.PSSH[systemPlayReady]; !ok {
					t.Errorf("%s: no PlayReady pssh", where)
				}
				if got := fk.PSSH[systemCommon]; !slices.Equal(got, []string{fk.SeigKID}) {
					t.Errorf("%s: common pssh KIDs %v, want [%s]", where, got, fk.SeigKID)
				}
				if fi == 0 {
					kids[dir] = append(kids[dir], fk.SeigKID)
				}
			}
		}
	}
	return kids
}

// inbandPeriods groups a track's segments into key periods by their seig
// KID; every period shares the one init segment.
func inbandPeriods(dir string, segKIDs []string, segs []string) []keyPeriod {
	var kps []keyPeriod
	for i, kid := range segKIDs {
		if len(kps) == 0 || kps[len(kps)-1].kid != kid {
			kps = append(kps, keyPeriod{init: filepath.Join(dir, "init.mp4"), kid: kid})
		}
		kps[len(kps)-1].segs = append(kps[len(kps)-1].segs, segs[i])
	}
	return kps
}

// shakaRotatedKeys returns Shaka Packager's raw-key rotation keys of
// periods 0..n-1 for base: KID and key rotated left by the period index in
// bytes (its RawKeySource "naive key rotation", for testing only).
func shakaRotatedKeys(base kidKey, n int) []kidKey {
	rot := func(h string, k int) string {
		b, _ := hex.DecodeString(h)
		return hex.EncodeToString(append(b[k%16:], b[:k%16]...))
	}
	out := make([]kidKey, n)
	for p := range out {
		out[p] = kidKey{rot(base.kid, p), rot(base.key, p)}
	}
	return out
}

// TestKeyRotationInbandShaka: Shaka Packager's in-band rotated output
// (raw keys, --crypto_period_duration) has the in-band structure and
// passes drmpipe verify with one --key per crypto period.
func TestKeyRotationInbandShaka(t *testing.T) {
	for _, scheme := range []string{"cbcs", "cenc"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			in := testtools.SampleClip(t)
			out := filepath.Join(t.TempDir(), "shaka")
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			testtools.RunIn(t, out, testtools.ShakaPackager(t),
				"in="+in+",stream=video,init_segment=video/init.mp4,segment_template=video/seg_$Number$.m4s,playlist_name=video.m3u8",
				"in="+in+",stream=audio,init_segment=audio/init.mp4,segment_template=audio/seg_$Number$.m4s,playlist_name=audio.m3u8",
				"--enable_raw_key_encryption", "--keys", "label=:key_id="+singleKey.kid+":key="+singleKey.key,
				"--crypto_period_duration", "4", "--clear_lead", "0", "--protection_scheme", scheme,
				"--protection_systems", "Widevine,PlayReady,CommonSystem", "--segment_duration", "2",
				"--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8", "--quiet")
			kids := checkInbandStructure(t, filepath.Join(out, "manifest.mpd"), []string{filepath.Join(out, "video"), filepath.Join(out, "audio")})
			keys := shakaRotatedKeys(singleKey, 3) // a 10 s input in 4 s crypto periods
			distinct := map[string]bool{}
			for _, ks := range kids {
				for _, k := range ks {
					distinct[k] = true
				}
			}
			for n, k := range keys {
				if !distinct[k.kid] {
					t.Errorf("no segment uses the KID of crypto period %d (%s): %v", n, k.kid, slices.Sorted(maps.Keys(distinct)))
				}
			}
			args := []string{"verify"}
			for _, k := range keys {
				args = append(args, "--key", k.flag())
			}
			mustRun(t, append(args, out)...)
		})
	}
}

// TestKeyRotationInband is the proof of --rotation-signaling inband: for
// both schemes the output has the structure Shaka Packager's in-band output
// has (one init segment whose tenc default_KID is the first period's KID,
// never all-zero; seig and pssh in every fragment; an MPD without
// default_KID or pssh), every key period of every track decrypts with
// ffmpeg (one -decryption_key per period: init + the period's segments) and
// with Shaka Packager to the clear input's packets, consecutive periods'
// KIDs differ, and drmpipe verify accepts it given every period's key.
// With --dual both segment sets are proven the same way.
func TestKeyRotationInband(t *testing.T) {
	const periods = 3 // 10 s input, 2 s segments, 4 s key periods
	cases := []struct {
		name string
		args []string
		sets []string // segment set directories under the output ("" = the root)
	}{
		{"cbcs", []string{"--scheme", "cbcs", "--drm", drmsFor("cbcs")}, []string{""}},
		{"cenc", []string{"--scheme", "cenc", "--drm", drmsFor("cenc")}, []string{""}},
		{"dual", []string{"--dual", "--drm", drmsFor("cbcs")}, []string{"cbcs", "cenc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ks := keySets[0]
			in := testtools.SampleClip(t)
			keys := rotationKeys(ks, periods)
			out := packageRotated(t, in, keys["ALL"], append([]string{"--rotation-signaling", "inband"}, tc.args...)...)
			streams := inputStreams(t, []string{in})
			for _, set := range tc.sets {
				dirs := testtools.TrackDirs(t, filepath.Join(out, set))
				if len(dirs) != len(streams) {
					t.Fatalf("%s: %d tracks for %d input streams", set, len(dirs), len(streams))
				}
				segKIDs := checkInbandStructure(t, filepath.Join(out, "manifest.mpd"), dirs)
				for _, dir := range dirs {
					t.Run(set+"/"+filepath.Base(dir), func(t *testing.T) {
						if prot := testtools.ReadProtection(t, filepath.Join(dir, "init.mp4")); prot.KID != keys["ALL"][0].kid {
							t.Errorf("tenc default_KID %s, want the first key period's %s", prot.KID, keys["ALL"][0].kid)
						}
						kps := inbandPeriods(dir, segKIDs[dir], testtools.SegmentFiles(t, dir))
						checkRotatedTrack(t, kps, ks, keys, streams, periods)
						if set != "cenc" {
							checkInbandPlaylist(t, dir, periods)
						}
					})
				}
			}
		})
	}
}

// checkInbandPlaylist: HLS has no in-band signaling, so the media playlist
// of an in-band track has one EXT-X-MAP and a new EXT-X-KEY group at each
// key period boundary.
func checkInbandPlaylist(t *testing.T, dir string, periods int) {
	b, err := os.ReadFile(filepath.Join(dir, "playlist.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	pl := string(b)
	if n := strings.Count(pl, "#EXT-X-MAP:"); n != 1 {
		t.Errorf("%d EXT-X-MAP tags, want 1", n)
	}
	groups := 0
	prevKey := false
	for _, line := range strings.Split(pl, "\n") {
		isKey := strings.HasPrefix(line, "#EXT-X-KEY:")
		if isKey && !prevKey {
			groups++
		}
		prevKey = isKey
	}
	if groups != periods {
		t.Errorf("%d EXT-X-KEY groups, want one per key period (%d)", groups, periods)
	}
}
