package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// periodKIDs maps each track directory of a key-rotated output to the
// default KIDs of its per-period init segments (init_p0.mp4, init_p1.mp4,
// ...), in period order.
func periodKIDs(t *testing.T, out string) map[string][]string {
	t.Helper()
	inits, err := filepath.Glob(filepath.Join(out, "*", "init_p0.mp4"))
	if err != nil || len(inits) == 0 {
		t.Fatalf("no init_p0.mp4 in %s (%v)", out, err)
	}
	m := map[string][]string{}
	for _, p0 := range inits {
		dir := filepath.Dir(p0)
		for n := 0; ; n++ {
			p := filepath.Join(dir, fmt.Sprintf("init_p%d.mp4", n))
			if _, err := os.Stat(p); err != nil {
				break
			}
			m[filepath.Base(dir)] = append(m[filepath.Base(dir)], testtools.ReadProtection(t, p).KID)
		}
	}
	return m
}

// TestSPEKEKeyRotation is issue 13's SPEKE proof: `drmpipe package --speke
// --key-period` against `drmpipe serve`, with key periods by @index (SPEKE
// v2.0) and by @index with @start/@end (SPEKE v2.1, store-chosen KIDs).
// Each run gives every key period of every track its own KID, a second run
// the same KIDs; the store holds each period's key under (content, slot,
// period), with store-chosen KIDs the very keys `package --content-id
// --key-period` takes from the store, and with @start/@end each period's
// time; and `drmpipe verify` decrypts every segment with its period's key
// from the store.
func TestSPEKEKeyRotation(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	spekeKey := r.apiKey(t, apikey.ScopeSPEKE)
	// 6 s, 2 s GOPs: with 2 s key periods, three periods (two SPEKE
	// windows: periods 0-1, then 2).
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 6, BFrames: 2, Audio: "aac"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, timing, query, content, scheme, drms string
		origin                                     keys.KeyOrigin
	}{
		{"index", "index", "", "rot-index", "cenc", "widevine,playready,clearkey", keys.OriginKID},
		{"start_end", "start-end", "?overrideKeyIds=true", "rot-start-end", "cbcs", "widevine,playready,fairplay,clearkey", keys.OriginSlot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.secrets.addContentID(tc.content)
			pkg := func(out string) {
				t.Helper()
				stdout, stderr, code := d.cli(t, "package", "-q", "-o", out, "--speke", r.url+"/speke/v2/copyProtection"+tc.query,
					"--speke-token", spekeKey, "--content-id", tc.content, "--key-period", "2s", "--segment-duration", "2s",
					"--speke-period-timing", tc.timing, "--scheme", tc.scheme, "--drm", tc.drms, clip)
				if code != 0 {
					t.Fatalf("drmpipe package --speke --key-period exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
				}
			}
			out1 := filepath.Join(t.TempDir(), "out")
			pkg(out1)
			first := periodKIDs(t, out1)
			out2 := filepath.Join(t.TempDir(), "out")
			pkg(out2)
			second := periodKIDs(t, out2)
			if len(first) != 2 {
				t.Fatalf("%d tracks, want video and audio", len(first))
			}
			verifyKeys := map[string]bool{}
			for track, kids := range first {
				if len(kids) != 3 {
					t.Fatalf("%s: %d key periods, want 3", track, len(kids))
				}
				if fmt.Sprint(second[track]) != fmt.Sprint(kids) {
					t.Errorf("%s: second run KIDs %v, first %v", track, second[track], kids)
				}
				for n, s := range kids {
					if n > 0 && s == kids[n-1] {
						t.Errorf("%s: periods %d and %d share KID %s", track, n-1, n, s)
					}
					kid, err := drm.ParseKeyID(s)
					if err != nil {
						t.Fatal(err)
					}
					stored, err := r.Keys.GetByContent(ctx, tc.content, kid)
					if err != nil {
						t.Fatalf("%s period %d: KID %s not in the store: %v", track, n, kid, err)
					}
					d.secrets.addKey(stored.Key.Key)
					if stored.Period != uint32(n) || stored.TrackType != keys.All || stored.Origin != tc.origin {
						t.Errorf("%s period %d: stored as %v origin %s, want period %d, ALL, origin %s", track, n, stored, stored.Origin, n, tc.origin)
					}
					if tc.origin == keys.OriginSlot {
						slotKey, err := r.Keys.GetOrCreate(ctx, tc.content, keys.All, uint32(n))
						if err != nil || slotKey.KID != kid {
							t.Errorf("%s period %d: KID %s is not the store's slot key (%v, %v)", track, n, kid, slotKey.KID, err)
						}
					}
					verifyKeys[hex.EncodeToString(kid[:])+":"+hex.EncodeToString(stored.Key.Key)] = true
				}
			}
			if tc.origin == keys.OriginSlot {
				// The key store's own rotation (package --content-id
				// --key-period, no SPEKE) gives the very same KIDs.
				out3 := filepath.Join(t.TempDir(), "out")
				if _, stderr, code := d.cli(t, "package", "-q", "--config", d.cfgFile, "-o", out3, "--content-id", tc.content, "--key-period", "2s",
					"--segment-duration", "2s", "--scheme", tc.scheme, "--drm", tc.drms, clip); code != 0 {
					t.Fatalf("drmpipe package --content-id --key-period: %s", stderr)
				}
				if store := periodKIDs(t, out3); fmt.Sprint(store) != fmt.Sprint(first) {
					t.Errorf("key store rotation KIDs %v, SPEKE %v", store, first)
				}
			}
			if tc.timing == "start-end" {
				// The store knows each period's time: media time on the
				// wall clock from the Unix epoch, 2 s per period.
				times, err := r.Keys.ListPeriodTimes(ctx, tc.content)
				if err != nil {
					t.Fatal(err)
				}
				if len(times) != 3 {
					t.Fatalf("recorded period times %+v, want 3", times)
				}
				for n, pt := range times {
					if pt.Period != uint32(n) || !pt.WallClock || pt.Start != time.Duration(2*n)*time.Second || pt.End-pt.Start < 1900*time.Millisecond {
						t.Errorf("period %d recorded as %+v", n, pt)
					}
				}
			}
			// Video and audio share the slot (one key per asset): one --key
			// per period.
			verify := []string{"verify"}
			for _, k := range slices.Sorted(maps.Keys(verifyKeys)) {
				verify = append(verify, "--key", k)
			}
			if len(verify) != 1+2*3 {
				t.Errorf("%d distinct period keys, want 3", (len(verify)-1)/2)
			}
			stdout, stderr, code := d.cli(t, append(verify, out1)...)
			if code != 0 {
				t.Fatalf("drmpipe verify with every period's key: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			// One period's key wrong: verify must notice.
			wrong := slices.Clone(verify)
			wrong[2] = wrong[2][:33] + "00000000000000000000000000000000"
			if _, _, code := d.cli(t, append(wrong, out1)...); code == 0 {
				t.Error("drmpipe verify accepted the output with a wrong key for one period")
			}
		})
	}
}
