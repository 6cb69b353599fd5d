package interop

import (
	"crypto/md5"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestKeyRotationClearLead: --clear-lead with --key-period, in both
// signalings and both schemes. The clear lead is the start of key period 0:
// with a 2 s clear lead and 4 s key periods over a 10 s input, period 0 is
// the clear segment and 4 s of encrypted media (0-6 s) and period 1 starts
// at clear lead end + 4 s (6-10 s). The clear segment carries the input's
// bytes, drmpipe verify passes given each period's key, and every period
// decrypts with ffmpeg and Shaka Packager under its own key
// (checkRotatedTrack).
func TestKeyRotationClearLead(t *testing.T) {
	const periods = 2
	for _, sig := range []string{"period", "inband"} {
		for _, scheme := range []string{"cbcs", "cenc"} {
			t.Run(sig+"/"+scheme, func(t *testing.T) {
				t.Parallel()
				ks := keySets[0]
				in := testtools.SampleClip(t)
				keys := rotationKeys(ks, periods)
				out := packageRotated(t, in, keys["ALL"], "--clear-lead", "2s", "--rotation-signaling", sig,
					"--scheme", scheme, "--drm", drmsFor(scheme))
				streams := inputStreams(t, []string{in})
				playlists, _ := filepath.Glob(filepath.Join(out, "*", "playlist.m3u8"))
				if len(playlists) != len(streams) {
					t.Fatalf("%d tracks for %d input streams", len(playlists), len(streams))
				}
				for _, pl := range playlists {
					dir := filepath.Dir(pl)
					t.Run(filepath.Base(dir), func(t *testing.T) {
						var kps []keyPeriod
						if sig == "period" {
							kps = periodInits(t, dir, scheme)
						} else {
							kps = clearLeadInbandPeriods(t, dir)
						}
						if len(kps) != periods || len(kps[0].segs) != 3 {
							t.Fatalf("%d key periods, the first of %d segments; want %d, the first of 3 (clear lead + 4 s)", len(kps), len(kps[0].segs), periods)
						}
						// The clear lead segment holds the input's bytes.
						p0 := filepath.Join(t.TempDir(), "p0.mp4")
						concat(t, p0, append([]string{kps[0].init}, kps[0].segs...))
						clear := clearMD5(t, matchInput(t, probeStreams(t, p0)[0], streams))
						for n, sample := range testtools.SegmentSamples(t, kps[0].init, kps[0].segs[0]) {
							if sum := md5.Sum(sample); n >= len(clear) || hex.EncodeToString(sum[:]) != clear[n] {
								t.Fatalf("sample %d of the clear lead is not the clear input's", n)
							}
						}
						checkRotatedTrack(t, kps, ks, keys, streams, periods)
					})
				}
			})
		}
	}
}

// clearLeadInbandPeriods groups the segments of an in-band rotated track
// by their seig KID; clear lead segments (no seig group) belong to key
// period 0, whose first encrypted segment follows them.
func clearLeadInbandPeriods(t *testing.T, dir string) []keyPeriod {
	segs := testtools.SegmentFiles(t, dir)
	kids := make([]string, len(segs))
	for i, seg := range segs {
		if fks := testtools.SegmentFragmentKeys(t, seg); len(fks) > 0 {
			kids[i] = fks[0].SeigKID
		}
	}
	first := ""
	for _, k := range kids {
		if k != "" {
			first = k
			break
		}
	}
	for i := range kids {
		if kids[i] != "" {
			break
		}
		kids[i] = first
	}
	return inbandPeriods(dir, kids, segs)
}
