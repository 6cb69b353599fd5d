package e2e

import (
	"context"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// e2eClip is small enough for -race runs: 640x360 (an SD track) H.264 with
// B-frames and AAC, two 2 s GOPs.
func e2eClip(t *testing.T) string {
	return testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 4, BFrames: 2, Audio: "aac"})
}

// trackKIDs maps each track directory's base name to the default KID of its
// init segment.
func trackKIDs(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, d := range testtools.TrackDirs(t, out) {
		m[filepath.Base(d)] = testtools.ReadProtection(t, filepath.Join(d, "init.mp4")).KID
	}
	return m
}

// checkDecryptsWithStoreKeys proves every track of out decrypts with ffmpeg,
// using the key the store holds for the track's KID, to exactly the packets
// of the clear input, and that the stored key belongs to contentID with the
// expected track type. It returns the KIDs seen.
func checkDecryptsWithStoreKeys(t *testing.T, r *replica, out, clip, contentID string, perType bool) {
	t.Helper()
	ctx := context.Background()
	clear := map[string][]string{
		"v:0": testtools.FrameMD5(t, clip, "v:0", ""),
		"a:0": testtools.FrameMD5(t, clip, "a:0", ""),
	}
	seen := map[string]bool{}
	for _, d := range testtools.TrackDirs(t, out) {
		prot := testtools.ReadProtection(t, filepath.Join(d, "init.mp4"))
		kid, err := drm.ParseKeyID(prot.KID)
		if err != nil {
			t.Fatalf("%s: KID %q: %v", filepath.Base(d), prot.KID, err)
		}
		stored, err := r.Keys.Get(ctx, kid)
		if err != nil {
			t.Fatalf("%s: the store has no key for the track's KID %s: %v", filepath.Base(d), kid, err)
		}
		r.d.secrets.addKey(stored.Key.Key)
		if stored.ContentID != contentID {
			t.Errorf("%s: stored key belongs to content %q, want %q", filepath.Base(d), stored.ContentID, contentID)
		}
		if stored.State != keys.StateActive {
			t.Errorf("%s: stored key state %s", filepath.Base(d), stored.State)
		}
		stream := "v:0"
		wantType := keys.SD
		if strings.Contains(strings.ToLower(filepath.Base(d)), "audio") {
			stream, wantType = "a:0", keys.Audio
		}
		if !perType {
			wantType = keys.All
		}
		if stored.TrackType != wantType {
			t.Errorf("%s: stored key track type %s, want %s", filepath.Base(d), stored.TrackType, wantType)
		}
		whole := testtools.ConcatTrack(t, d)
		got := testtools.FrameMD5(t, whole, "0", hex.EncodeToString(stored.Key.Key))
		if !slices.Equal(got, clear[stream]) {
			t.Errorf("%s: decrypted with the store's key, %d packets differ from the clear input (%d vs %d packets)",
				filepath.Base(d), countDiff(got, clear[stream]), len(got), len(clear[stream]))
		}
		if stream == "v:0" {
			if enc := testtools.FrameMD5(t, whole, "0", ""); slices.Equal(enc, clear[stream]) {
				t.Errorf("%s: packets without the key equal the clear input: not encrypted", filepath.Base(d))
			}
		}
		seen[prot.KID] = true
	}
	if perType && len(seen) < 2 {
		t.Errorf("--keys-per track-type gave %d distinct KIDs for audio and video, want 2", len(seen))
	}
}

// TestSPEKERoundTrip is issue 3's proof: `drmpipe package --speke` against
// `drmpipe serve` (SPEKE v2 and v1), the output decrypts with ffmpeg using
// the keys from the store, a retried run gets the same KIDs, and SPEKE
// refuses unauthenticated (401) and wrongly scoped (403) callers without
// touching keys.
func TestSPEKERoundTrip(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	spekeKey := r.apiKey(t, apikey.ScopeSPEKE)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	clip := e2eClip(t)
	d.secrets.addContentID("movie")
	d.secrets.addContentID("movie-v1")

	pkg := func(out, version, contentID string, extra ...string) {
		t.Helper()
		path := "/speke/v2/copyProtection"
		if version == "1" {
			path = "/speke/v1/copyProtection"
		}
		args := append([]string{"package", "-q", "-o", out, "--speke", r.url + path, "--speke-version", version,
			"--speke-token", spekeKey, "--content-id", contentID}, extra...)
		args = append(args, clip)
		stdout, stderr, code := d.cli(t, args...)
		if code != 0 {
			t.Fatalf("drmpipe package --speke (v%s) exit %d\nstdout:\n%s\nstderr:\n%s", version, code, stdout, stderr)
		}
	}

	t.Run("v2_per_track_type", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		pkg(out, "2", "movie", "--keys-per", "track-type")
		checkDecryptsWithStoreKeys(t, r, out, clip, "movie", true)

		for _, tt := range testtools.MissingTrackTypeKeys(t, r.Keys, "movie") {
			t.Errorf("store has no %s key for content movie after a 5-track-type SPEKE request", tt)
		}
		list, err := r.Keys.List(context.Background(), "movie")
		if err != nil {
			t.Fatal(err)
		}
		first := trackKIDs(t, out)

		// A retried packaging run (a fresh SPEKE request) gets the same keys.
		out2 := filepath.Join(t.TempDir(), "out")
		pkg(out2, "2", "movie", "--keys-per", "track-type")
		second := trackKIDs(t, out2)
		if len(first) != len(second) {
			t.Fatalf("retried run has %d tracks, first %d", len(second), len(first))
		}
		for name, kid := range first {
			if second[name] != kid {
				t.Errorf("track %s: retried run KID %s, first run %s", name, second[name], kid)
			}
		}
		list2, _ := r.Keys.List(context.Background(), "movie")
		if len(list2) != len(list) {
			t.Errorf("retried run changed the number of stored keys: %d -> %d", len(list), len(list2))
		}
	})

	t.Run("v1", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		pkg(out, "1", "movie-v1")
		checkDecryptsWithStoreKeys(t, r, out, clip, "movie-v1", false)
	})

	t.Run("auth", func(t *testing.T) {
		cpix := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="unauthorized-content" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe" commonEncryptionScheme="cbcs"/></cpix:ContentKeyList>
</cpix:CPIX>`)
		for _, tc := range []struct {
			name, path string
			headers    []string
			status     int
			code       string
		}{
			{"v2 no credential", "/speke/v2/copyProtection", []string{"X-Speke-Version", "2.0"}, http.StatusUnauthorized, "unauthorized"},
			{"v2 wrong token", "/speke/v2/copyProtection", []string{"X-Speke-Version", "2.0", "Authorization", "Bearer dp_0123456789abcdef_" + strings.Repeat("x", 43)}, http.StatusUnauthorized, "unauthorized"},
			{"v2 admin scope", "/speke/v2/copyProtection", []string{"X-Speke-Version", "2.0", "Authorization", "Bearer " + adminKey}, http.StatusForbidden, "forbidden"},
			{"v1 no credential", "/speke/v1/copyProtection", nil, http.StatusUnauthorized, "unauthorized"},
			{"v1 admin scope", "/speke/v1/copyProtection", []string{"Authorization", "Bearer " + adminKey}, http.StatusForbidden, "forbidden"},
		} {
			h := append([]string{"Content-Type", "application/xml"}, tc.headers...)
			resp := do(t, http.MethodPost, r.url+tc.path, cpix, h...)
			if resp.status != tc.status {
				t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.status, tc.status, resp.body)
				continue
			}
			if e := resp.errBody(t); e.Code != tc.code {
				t.Errorf("%s: code %q, want %q", tc.name, e.Code, tc.code)
			}
		}
		if list, err := r.Keys.List(context.Background(), "unauthorized-content"); err != nil || len(list) != 0 {
			t.Errorf("refused SPEKE requests touched the store: %d keys, err %v", len(list), err)
		}
	})
}

func countDiff(a, b []string) int {
	n := 0
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			n++
		}
	}
	if len(b) > len(a) {
		n += len(b) - len(a)
	}
	return n
}
