package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// liveVideoObjects is the encoder's video track as CMAF objects: the
// header and one fragment per 2 s GOP of liveClip.
func liveVideoObjects(t *testing.T) (init []byte, frags [][]byte) {
	t.Helper()
	track := filepath.Join(t.TempDir(), "video.cmfv")
	runFFmpeg(t, "-i", liveClip(t), "-map", "0:v", "-c", "copy", "-f", "mp4", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf+frag_keyframe", track)
	data, err := os.ReadFile(track)
	if err != nil {
		t.Fatal(err)
	}
	init, frags = cmafObjects(t, data)
	if len(frags) < 6 {
		t.Fatalf("%d fragments", len(frags))
	}
	return init, frags
}

// videoTrackLineRE matches drmpipe verify's line for a video track (one
// per key period's init segment).
var videoTrackLineRE = regexp.MustCompile(`(?m)^video\s+cbcs\s`)

// verifiedTwoPeriods: verify's output lists the video track of two key
// periods and proves both keys.
func verifiedTwoPeriods(out string) bool {
	return len(videoTrackLineRE.FindAllString(out, -1)) == 2 && strings.Count(out, ": proven (") == 2
}

var clearKeyIDRE = regexp.MustCompile(`KEYID=0x([0-9A-F]{32}),KEYFORMAT="org.w3.clearkey"`)

// playlistKIDs are the KIDs of a live media playlist's key periods, in
// order.
func playlistKIDs(t *testing.T, pl string) []drm.KeyID {
	t.Helper()
	var out []drm.KeyID
	for _, m := range clearKeyIDRE.FindAllStringSubmatch(pl, -1) {
		kid, err := drm.ParseKeyID(strings.ToLower(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kid)
	}
	return out
}

// TestLiveChannelOperations runs a channel's life on a real drmpipe serve,
// driven by the drmpipe CLI against the server (--server, an admin API
// key): create, list and show through the admin API; an emergency re-key
// by `drmpipe revoke kid` of the KID being used (licenses for it refused at
// once, a new key period in the manifests with the next segment); `channel
// stop` (static MPD, EXT-X-ENDLIST, ingest refused, the event archived as a
// VOD asset that `drmpipe verify` decrypts with its period keys and the
// origin serves); delete (ingest and output stop). A channel created on the
// data directory after the server started takes ingest at once.
func TestLiveChannelOperations(t *testing.T) {
	d := newDeployment(t, setup{})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	ingestKey := r.apiKey(t, apikey.ScopeIngest)
	srv := []string{"--server", r.url, "--api-key", adminKey}
	cli := func(args ...string) string {
		t.Helper()
		out, stderr, code := d.cli(t, append(args, srv...)...)
		if code != 0 {
			t.Fatalf("drmpipe %s: %s", strings.Join(args, " "), stderr)
		}
		return out
	}
	out := cli("channel", "create", "ops", "--key-period=8s", "--segment-duration=2s", "--window=60s", "--drm=widevine,clearkey", "--archive")
	for _, want := range []string{r.url + "/ingest/ops/stream.mpd", r.url + "/live/ops/manifest.mpd", "key period 8s", "archived"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if out := cli("channel", "list"); !strings.Contains(out, "ops") || !strings.Contains(out, "8s") {
		t.Errorf("list:\n%s", out)
	}
	if out := cli("channel", "show", "ops"); !strings.Contains(out, "widevine,clearkey") {
		t.Errorf("show:\n%s", out)
	}
	if _, stderr, code := d.cli(t, "channel", "create", "ops", "--server", r.url, "--api-key", ingestKey); code == 0 || !strings.Contains(stderr, "403") {
		t.Errorf("create with an ingest key: code %d %s", code, stderr)
	}
	if _, stderr, code := d.cli(t, append([]string{"channel", "create", "ops"}, srv...)...); code == 0 || !strings.Contains(stderr, "409") {
		t.Errorf("second create: code %d %s", code, stderr)
	}

	init, frags := liveVideoObjects(t)
	auth := []string{"Authorization", "Bearer " + ingestKey}
	put := func(path string, body []byte) response {
		return do(t, "PUT", r.url+"/ingest/"+path, body, auth...)
	}
	if resp := put("ops/video/init.mp4", init); resp.status != 200 {
		t.Fatalf("init: %d %s", resp.status, resp.body)
	}
	for i := range 3 { // segments 1 and 2 (0-4 s) published
		if resp := put(fmt.Sprintf("ops/video/%d.m4s", i+1), frags[i]); resp.status != 200 {
			t.Fatalf("fragment %d: %d %s", i+1, resp.status, resp.body)
		}
	}
	base := r.url + "/live/ops/"
	kids := playlistKIDs(t, string(do(t, "GET", base+"video/playlist.m3u8", nil).body))
	if len(kids) != 1 {
		t.Fatalf("KIDs before the revocation: %v", kids)
	}
	r.d.secrets.addContentID("ops")
	tok := r.token(t, entitlement.Claims{Subject: "viewer1", ContentID: "ops"})
	leaked := r.clearKeyLicense(t, tok, kids[0])
	if leaked.status != 200 {
		t.Fatalf("license before the revocation: %d %s", leaked.status, leaked.body)
	}

	// Emergency re-key: the revoked KID's licenses are refused at once;
	// the next segment (3, at 4 s) starts a key period under a new KID,
	// one that the license above did not carry: it carried key period 1's
	// key too (look-ahead), so the re-key skips period 1 for period 2.
	if out := cli("revoke", "kid", kids[0].String(), "--reason", "leaked"); !strings.Contains(out, "revoked kid") {
		t.Fatalf("revoke: %s", out)
	}
	if resp := r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "viewer1", ContentID: "ops"}), kids[0]); resp.status == 200 {
		t.Fatalf("license for the revoked KID: %d", resp.status)
	}
	if resp := put("ops/video/4.m4s", frags[3]); resp.status != 200 {
		t.Fatalf("fragment 4: %d %s", resp.status, resp.body)
	}
	pl := string(do(t, "GET", base+"video/playlist.m3u8", nil).body)
	after := playlistKIDs(t, pl)
	if len(after) != 2 || after[0] != kids[0] || after[1] == kids[0] {
		t.Fatalf("playlist after the re-key: want a new KID:\n%s", pl)
	}
	if got := licenseKeys(t, leaked.body); got[kids[0]] == nil || got[after[1]] != nil {
		t.Fatalf("the license for the revoked KID carries %d keys, the re-key's %s among them", len(got), after[1])
	}
	if !regexp.MustCompile(`(?s)init_p2\.mp4.*seg_3\.m4s`).MatchString(pl) {
		t.Fatalf("playlist after the re-key: want key period 2 from segment 3:\n%s", pl)
	}
	if mpd := string(do(t, "GET", base+"manifest.mpd", nil).body); !strings.Contains(mpd, `<Period id="2" start="PT4S"`) ||
		!strings.Contains(mpd, `cenc:default_KID="`+after[1].String()+`"`) {
		t.Fatalf("MPD after the re-key:\n%s", mpd)
	}
	if resp := r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "viewer1", ContentID: "ops"}), after[1]); resp.status != 200 {
		t.Fatalf("license for the new KID: %d %s", resp.status, resp.body)
	}

	// The live output verifies as it is: dynamic MPD, UTCTiming, window,
	// one Period per key period, each decrypting with its key.
	keyArgs := func(kids []drm.KeyID) []string {
		var args []string
		for _, kid := range kids {
			sk, err := r.Keys.GetByContent(context.Background(), "ops", kid)
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, "--key", kid.Hex()+":"+hex.EncodeToString(sk.Key.Key))
		}
		return args
	}
	if out, stderr, code := d.cli(t, append(append([]string{"verify", "--live"}, keyArgs(after)...), filepath.Join(d.dir, "live", "ops"))...); code != 0 || !verifiedTwoPeriods(out) {
		t.Fatalf("verify --live of the live channel: code %d\n%s%s", code, out, stderr)
	}

	// Stop: the open segment 4 is published, the manifests are final, the
	// archive is served and verifies with the period keys.
	out = cli("channel", "stop", "ops")
	m := regexp.MustCompile(`archive \(VOD\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stop printed no archive:\n%s", out)
	}
	pl = string(do(t, "GET", base+"video/playlist.m3u8", nil).body)
	if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || !strings.Contains(pl, "seg_4.m4s") {
		t.Fatalf("playlist after stop:\n%s", pl)
	}
	if mpd := string(do(t, "GET", base+"manifest.mpd", nil).body); !strings.Contains(mpd, `type="static"`) || !strings.Contains(mpd, "mediaPresentationDuration") {
		t.Fatalf("MPD after stop:\n%s", mpd)
	}
	if resp := put("ops/video/5.m4s", frags[4]); resp.status != 409 {
		t.Fatalf("ingest after stop: %d, want 409", resp.status)
	}
	if resp := do(t, "GET", m[1], nil); resp.status != 200 || !strings.Contains(string(resp.body), `type="static"`) {
		t.Fatalf("archive %s: %d", m[1], resp.status)
	}
	archiveDir := filepath.Join(d.dir, "content", filepath.Base(filepath.Dir(strings.TrimPrefix(m[1], r.url))))
	if out, stderr, code := d.cli(t, append(append([]string{"verify"}, keyArgs(after)...), archiveDir)...); code != 0 || !verifiedTwoPeriods(out) {
		t.Fatalf("verify of the archive: code %d\n%s%s", code, out, stderr)
	}
	if _, _, code := d.cli(t, "verify", "--key", after[1].Hex()+":"+strings.Repeat("00", 16), archiveDir); code == 0 {
		t.Fatal("verify of the archive passes with a wrong key")
	}

	// Delete: ingest and output stop at once.
	cli("channel", "delete", "ops")
	if resp := do(t, "GET", base+"video/playlist.m3u8", nil); resp.status != 404 {
		t.Fatalf("output after delete: %d", resp.status)
	}
	if resp := put("ops/video/init.mp4", init); resp.status != 404 {
		t.Fatalf("ingest after delete: %d", resp.status)
	}

	// A channel created on the data directory (another process) while the
	// server runs takes ingest at once.
	if _, stderr, code := d.cli(t, "channel", "create", "--config", d.cfgFile, "later", "--key-period=4s", "--window=60s"); code != 0 {
		t.Fatalf("create on --data: %s", stderr)
	}
	if resp := put("later/video/init.mp4", init); resp.status != 200 {
		t.Fatalf("ingest for a channel created after the server started: %d %s", resp.status, resp.body)
	}
}
