package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

// putStatus PUTs an ingest object and returns the status and error body.
func (env *liveEnv) putStatus(t *testing.T, path string, body []byte) (int, httperr.Body, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("PUT", env.srv.URL+IngestPrefix+path, bytes.NewReader(body))
	req.SetBasicAuth("enc", env.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e httperr.Body
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("PUT %s: %d, body not the error schema: %q", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e, resp.Header
}

// Two packagers (replicas a and b) on one store and one directory: b
// refuses ingest for the channel a holds, naming a. When the lease passes
// to another holder behind a's back while a still trusts it (a pause, as
// seen by the others), a's next segment is refused by the fenced state
// write, and nothing public changes: not the playlists, not the MPD, and
// the segment is not linked. The next holder goes on from a's last
// committed state, open segment included; a holder that shuts down
// releases the channel at once.
func TestLiveLeaseFencing(t *testing.T) {
	objs, err := readAll(t, bytes.NewReader(cmafTrack(t, 12)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	frag := func(i int) []byte { return append(append([]byte(nil), objs[i].data...), objs[i].mdat...) }
	dir := t.TempDir()
	ch := clearKeyChannel("ls")
	replica := func(id string) func(*Config, *Deps) {
		return func(c *Config, _ *Deps) { c.ReplicaID, c.LeaseTTL = id, 3*time.Second }
	}
	a := newLiveEnv(t, dir, nil, ch, replica("a"))
	a.put(t, "ls/v/init.mp4", objs[0].data)
	for i := 1; i <= 3; i++ { // segments 1 and 2 published, the third open
		a.put(t, fmt.Sprintf("ls/v/%d.m4s", i), frag(i))
	}
	b := newLiveEnv(t, dir, a.store, ch, replica("b"))
	code, e, h := b.putStatus(t, "ls/v/init.mp4", objs[0].data)
	if code != http.StatusConflict || e.Code != httperr.CodeChannelHeld || !strings.Contains(e.Message, `replica "a"`) ||
		e.RetryAfter < 1 || e.RetryAfter > 3 || h.Get("Retry-After") == "" {
		t.Fatalf("ingest on b: %d %+v, want 409 channel_held naming a with retryAfter 1..3", code, e)
	}
	pl, mpd := b.get(t, "ls/v/playlist.m3u8"), b.get(t, "ls/manifest.mpd")
	if !strings.Contains(pl, "seg_2.m4s") || pl != a.get(t, "ls/v/playlist.m3u8") {
		t.Fatalf("b serves:\n%s", pl)
	}

	// Replica c takes the lease as if a's had expired (c's clock an hour
	// ahead); a's own lease view is still valid.
	ctx := context.Background()
	c, err := a.store.AcquireLease(ctx, "ls", "c", time.Now().Add(time.Hour), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, e, _ = a.putStatus(t, "ls/v/4.m4s", frag(4))
	if code != http.StatusConflict || e.Code != httperr.CodeChannelHeld || !strings.Contains(e.Message, `replica "c"`) {
		t.Fatalf("a's segment after the takeover: %d %+v, want 409 channel_held naming c", code, e)
	}
	if got := b.get(t, "ls/v/playlist.m3u8"); got != pl {
		t.Errorf("the playlist changed after a's refused write:\n%s", got)
	}
	if got := b.get(t, "ls/manifest.mpd"); got != mpd {
		t.Errorf("the MPD changed after a's refused write:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "live", "ls", "v", "seg_3.m4s")); !os.IsNotExist(err) {
		t.Errorf("a's refused segment 3 is public: %v", err)
	}

	// c lets go; b takes the channel over and goes on from a's committed
	// state: segment 3 (open on a) closes with b's first fragment.
	if err := a.store.ReleaseLease(ctx, "ls", c.Fence); err != nil {
		t.Fatal(err)
	}
	b.put(t, "ls/v/init.mp4", objs[0].data)
	b.put(t, "ls/v/4.m4s", frag(4))
	after := b.get(t, "ls/v/playlist.m3u8")
	if !strings.Contains(after, "seg_3.m4s") || !strings.Contains(after, pl[strings.Index(pl, "#EXT-X-MAP"):]) {
		t.Fatalf("b's playlist:\n%s\nbefore:\n%s", after, pl)
	}
	if got := a.get(t, "ls/v/playlist.m3u8"); got != after {
		t.Errorf("a serves another playlist than b:\n%s", got)
	}
	code, e, _ = a.putStatus(t, "ls/v/5.m4s", frag(5))
	if code != http.StatusConflict || !strings.Contains(e.Message, `replica "b"`) {
		t.Fatalf("a after b's takeover: %d %+v", code, e)
	}
	// b shuts down: its lease is released, a takes the channel at once
	// (well before b's lease would have expired).
	if err := b.p.Close(); err != nil {
		t.Fatal(err)
	}
	a.put(t, "ls/v/init.mp4", objs[0].data)
	a.put(t, "ls/v/5.m4s", frag(5))
	if pl := a.get(t, "ls/v/playlist.m3u8"); !strings.Contains(pl, "seg_4.m4s") || !strings.Contains(pl, after[strings.Index(after, "#EXT-X-MAP"):]) {
		t.Fatalf("a's playlist after b's shutdown:\n%s", pl)
	}
}
