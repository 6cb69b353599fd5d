package live

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
	"github.com/drmpipe/drmpipe/internal/verify"
)

// status is the status of a request to the live env's server.
func (env *liveEnv) status(t *testing.T, method, path string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(string(body)))
	req.SetBasicAuth("enc", env.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var (
	mapLineRE = regexp.MustCompile(`#EXT-X-MAP:URI="(init_p[0-9]+\.mp4)"`)
	keyIDRE   = regexp.MustCompile(`KEYID=0x([0-9A-Fa-f]{32}),KEYFORMAT="org.w3.clearkey"`)
)

// Revoking the KID a channel encrypts with starts a new key period at the
// next segment (at 4 s, in the middle of key period 0's 8 s), under a KID
// no license can have carried before: key period 1's key, created ahead,
// is skipped (Period 2), and the natural boundary follows two indexes
// higher (Period 3). Stopping
// the channel publishes the open segment, makes the MPD static and ends the
// playlists, refuses more ingest, and archives the whole event (also the
// segments that left the 8 s window) as a VOD asset that drmpipe verify
// decrypts with the period keys, the revoked one included.
func TestLiveRekeyStopArchive(t *testing.T) {
	objs := cmafObjects(t, 14)
	ctx := context.Background()
	dir := t.TempDir()
	ch := Channel{Name: "ev", SegmentDuration: 2 * time.Second, KeyPeriod: 8 * time.Second, Window: 8 * time.Second, Scheme: cenc.CBCS,
		Systems: []drm.System{drm.Widevine, drm.ClearKey}, KeysPer: KeysPerAsset, Archive: true}
	env := newLiveEnv(t, dir, nil, ch)
	env.p.cfg.ArchiveDir = filepath.Join(dir, "content")
	push := func(from, to int) { env.putFragments(t, "ev/v", from, objs[from:to]) }
	env.put(t, "ev/v/init.mp4", objs[0].data)
	push(1, 4) // 3 GOPs: segments 1 and 2 (0-4 s) published, key period 0
	pl := env.get(t, "ev/v/playlist.m3u8")
	kids := keyIDRE.FindAllStringSubmatch(pl, -1)
	if len(kids) != 1 || !strings.Contains(pl, "seg_2.m4s") {
		t.Fatalf("playlist before the revocation:\n%s", pl)
	}
	revoked, err := drm.ParseKeyID(strings.ToLower(kids[0][1]))
	if err != nil {
		t.Fatal(err)
	}
	// The keys a license could carry before the revocation: key period 0's
	// and the next one's, created ahead (a look-ahead license for the
	// revoked key carries it).
	env.p.ahead.Wait()
	before, err := env.store.List(ctx, "ev")
	if err != nil || len(before) != 2 {
		t.Fatalf("keys before the revocation (%v): %+v", err, before)
	}
	if err := env.store.Revoke(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	push(4, 7) // 6 GOPs: segment 3 (4-6 s) closes with the next fragment
	pl = env.get(t, "ev/v/playlist.m3u8")
	maps := mapLineRE.FindAllStringSubmatch(pl, -1)
	kids = keyIDRE.FindAllStringSubmatch(pl, -1)
	if len(maps) != 3 || maps[1][1] != "init_p2.mp4" || maps[2][1] != "init_p3.mp4" || len(kids) != 3 {
		t.Fatalf("playlist after the revocation: want key periods 0 (revoked), 2 (from segment 3), 3 (from 8 s):\n%s", pl)
	}
	if !regexp.MustCompile(`(?s)init_p2\.mp4.*KEYID=0x[0-9A-F]+.*seg_3\.m4s`).MatchString(pl) || strings.Contains(pl[:strings.Index(pl, "init_p2.mp4")], "seg_3.m4s") {
		t.Fatalf("key period 2 does not start at segment 3:\n%s", pl)
	}
	for _, k := range kids[1:] {
		for _, b := range before {
			if strings.EqualFold(k[1], b.KID.Hex()) {
				t.Fatalf("KID %s (key period %d), created before the revocation, is used after the re-key:\n%s", b.KID, b.Period, pl)
			}
		}
	}
	if mpd := env.get(t, "ev/manifest.mpd"); !strings.Contains(mpd, `<Period id="2" start="PT4S"`) || !strings.Contains(mpd, `type="dynamic"`) {
		t.Fatalf("MPD after the re-key:\n%s", mpd)
	}

	// The live output verifies as it is (dynamic MPD, live playlists),
	// with the keys of its key periods.
	if rep, err := verify.DirWith(ctx, filepath.Join(dir, "live", "ev"), periodKeys(t, env, revoked), verify.Options{Live: true}); err != nil || !rep.OK() {
		t.Fatalf("verify of the live channel: %v %v", err, rep.Problems)
	}

	archive, err := env.p.Stop(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	pl = env.get(t, "ev/v/playlist.m3u8")
	if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || !strings.Contains(pl, "seg_6.m4s") {
		t.Fatalf("playlist after stop: want ENDLIST and the open segment 6 published:\n%s", pl)
	}
	mpd := env.get(t, "ev/manifest.mpd")
	if !strings.Contains(mpd, `type="static"`) || !strings.Contains(mpd, `mediaPresentationDuration="PT8S"`) || strings.Contains(mpd, "minimumUpdatePeriod") {
		t.Fatalf("MPD after stop: want static, the last window (4 s to 12 s) long:\n%s", mpd)
	}
	// Its timeline starts at the first listed segment (4 s): the first
	// Period starts at 0 with that segment's time as its offset, not at 0
	// with a 4 s gap before it.
	if !regexp.MustCompile(`<Period id="2" start="PT0S">(?s:.)*?presentationTimeOffset="49152">\s*<SegmentTimeline>\s*<S t="49152"`).MatchString(mpd) {
		t.Fatalf("MPD after stop: the first Period does not start at its first segment:\n%s", mpd)
	}
	var windowKeys []verify.Key // the revoked key's period left the window
	for _, k := range periodKeys(t, env, revoked) {
		if k.KID != revoked {
			windowKeys = append(windowKeys, k)
		}
	}
	if rep, err := verify.DirWith(ctx, filepath.Join(dir, "live", "ev"), windowKeys, verify.Options{}); err != nil || !rep.OK() {
		t.Fatalf("verify of the ended channel: %v %v", err, rep.Problems)
	}
	if code := env.status(t, "PUT", IngestPrefix+"ev/v/9.m4s", fragment(objs[7])); code != http.StatusConflict {
		t.Fatalf("ingest after stop: %d, want 409", code)
	}

	// The archive: every segment from 1, the three key periods.
	if archive == "" || !strings.HasPrefix(archive, filepath.Join(dir, "content", "ev-")) {
		t.Fatalf("archive directory %q", archive)
	}
	apl, err := os.ReadFile(filepath.Join(archive, "v", "playlist.m3u8"))
	if err != nil || !strings.Contains(string(apl), "seg_1.m4s") || !strings.Contains(string(apl), "#EXT-X-ENDLIST") {
		t.Fatalf("archived playlist (%v):\n%s", err, apl)
	}
	vk := periodKeys(t, env, revoked)
	rep, err := verify.Dir(ctx, archive, vk)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify of the archive with %d keys: %d problems, first %v", len(vk), len(rep.Problems), rep.Problems[0])
	}
	// One entry per key period: 2 segments each, every sample decrypted.
	segs := 0
	for _, tr := range rep.Tracks {
		segs += tr.Segments
		if tr.DecryptedSamples != tr.Samples || tr.Samples == 0 {
			t.Errorf("verify of the archive: %+v", tr)
		}
	}
	if len(rep.Tracks) != 3 || segs != 6 {
		t.Fatalf("verify of the archive: %+v", rep.Tracks)
	}
}

// periodKeys are the keys of channel ev's key periods 0, 2 and 3 (the
// re-key skipped 1), the revoked one included.
func periodKeys(t *testing.T, env *liveEnv, revoked drm.KeyID) []verify.Key {
	t.Helper()
	ctx := context.Background()
	list, err := env.store.List(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	var vk []verify.Key
	for _, k := range list {
		if k.Period != 1 && k.Period <= 3 && (k.State == keys.StateActive || k.KID == revoked) {
			full, err := env.store.GetByContent(ctx, "ev", k.KID)
			if err != nil {
				t.Fatal(err)
			}
			vk = append(vk, verify.Key{KID: k.KID, Key: full.Key.Key})
		}
	}
	return vk
}

// A channel deleted while the server runs stops taking ingest and serving
// output, and its output leaves the disk; one created again under the
// name starts from segment 1.
func TestLiveDeleteAndCreateAgain(t *testing.T) {
	objs := cmafObjects(t, 6)
	ctx := context.Background()
	dir := t.TempDir()
	ch := clearKeyWindow("gone", 2*time.Second, 6*time.Second)
	ch.CreatedAt = time.Now()
	env := newLiveEnv(t, dir, nil, ch)
	env.putTrack(t, "gone/v", objs)
	if pl := env.get(t, "gone/v/playlist.m3u8"); !strings.Contains(pl, "seg_2.m4s") {
		t.Fatalf("playlist:\n%s", pl)
	}
	// Deleted by another process (the CLI on the data directory): seen
	// within defTTL.
	if err := NewChannels(env.store).Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if !eventuallyTrue(3*time.Second, func() bool {
		return env.status(t, "GET", OutputPrefix+"gone/v/playlist.m3u8", nil) == http.StatusNotFound
	}) {
		t.Fatal("output of the deleted channel still served")
	}
	if code := env.status(t, "PUT", IngestPrefix+"gone/v/init.mp4", objs[0].data); code != http.StatusNotFound {
		t.Fatalf("ingest for the deleted channel: %d, want 404", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "live", "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted channel's output is still on disk: %v", err)
	}
	ch.CreatedAt = time.Now().Add(time.Second)
	if _, err := NewChannels(env.store).Create(ctx, ch); err != nil {
		t.Fatal(err)
	}
	env.putTrack(t, "gone/v", objs[:3])
	if pl := env.get(t, "gone/v/playlist.m3u8"); !strings.Contains(pl, "#EXT-X-MEDIA-SEQUENCE:1\n") || !strings.Contains(pl, "seg_1.m4s") {
		t.Fatalf("playlist of the channel created again:\n%s", pl)
	}
}

func eventuallyTrue(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// ffmpeg's DASH muxer ends its stream with an MPD of type static (its
// last update); its live MPDs are dynamic.
func TestFinalMPD(t *testing.T) {
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 160, Height: 120, FPS: 24, Seconds: 4, GOPSeconds: 2, Audio: "aac"})
	dir := t.TempDir()
	cmd := exec.Command(testtools.FFmpeg(t), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip, "-c", "copy", "-f", "dash",
		"-seg_duration", "2", "-streaming", "1", "-use_timeline", "1", "-format_options", "movflags=cmaf", filepath.Join(dir, "stream.mpd"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	final, err := os.ReadFile(filepath.Join(dir, "stream.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	if !finalMPD(final) {
		t.Fatalf("ffmpeg's last MPD is not taken as the end of stream:\n%s", final)
	}
	live := regexp.MustCompile(`type="static"`).ReplaceAll(final, []byte(`type="dynamic"`))
	for _, mpd := range [][]byte{live, []byte(`<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><!-- type="static" --></MPD>`)} {
		if finalMPD(mpd) {
			t.Errorf("a dynamic MPD taken as the end of stream:\n%s", mpd)
		}
	}
}

// Live output outlives a store outage: with the key store closed, a
// channel read before keeps being served after its definition expired.
func TestLiveOutputDuringStoreOutage(t *testing.T) {
	objs := cmafObjects(t, 6)
	env := newLiveEnv(t, t.TempDir(), nil, clearKeyWindow("out", 2*time.Second, 6*time.Second))
	env.putTrack(t, "out/v", objs[:3])
	if err := env.store.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(defTTL + 100*time.Millisecond)
	if code := env.status(t, "GET", OutputPrefix+"out/v/playlist.m3u8", nil); code != http.StatusOK {
		t.Fatalf("playlist during a store outage: %d", code)
	}
}

// A key period whose first segments left the window keeps the Period@start
// and presentationTimeOffset it was published with (its first segment's
// time, persisted in the state): an MPD update moves no listed segment on
// the MPD timeline (ISO/IEC 23009-1 §5.3.9.2).
func TestLivePeriodStartStaysAsWindowSlides(t *testing.T) {
	objs := cmafObjects(t, 18)
	env := newLiveEnv(t, t.TempDir(), nil, clearKeyWindow("ev", 8*time.Second, 6*time.Second))
	env.putTrack(t, "ev/v", objs)
	// Segments 1-8 (0-16 s) are published; the 6 s window lists 6 to 8,
	// inside key period 1, which starts at 8 s with segment 5.
	mpd := env.get(t, "ev/manifest.mpd")
	if !strings.Contains(mpd, `startNumber="6"`) || strings.Contains(mpd, `startNumber="5"`) {
		t.Fatalf("the window does not start at segment 6:\n%s", mpd)
	}
	if !regexp.MustCompile(`<Period id="1" start="PT8S">(?s:.)*?presentationTimeOffset="98304"`).MatchString(mpd) {
		t.Fatalf("key period 1 does not keep its start (8 s) as the window slides:\n%s", mpd)
	}
}
