package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// replicaConfig writes a copy of d's configuration with live.replica_id
// set to id.
func replicaConfig(t *testing.T, d *deployment, id string) string {
	t.Helper()
	b, err := os.ReadFile(d.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	lv, _ := m["live"].(map[string]any)
	if lv == nil {
		lv = map[string]any{}
	}
	lv["replica_id"] = id
	m["live"] = lv
	if b, err = yaml.Marshal(m); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "drmpipe-"+id+".yaml")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// ingestPut PUTs body to /ingest/path on base with the encoder's key; it
// returns the status and body (0 when the request failed).
func ingestPut(base, key, path string, body io.Reader) (int, []byte) {
	req, _ := http.NewRequest("PUT", base+"/ingest/"+path, body)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestLiveReplicasLease runs two `drmpipe serve` processes (replicas a and
// b) on one PostgreSQL key store and one shared live directory, as README
// "Live channels: several replicas" describes:
//   - the replica that takes a channel's ingest first holds it; the other
//     answers ingest for it with 409 channel_held naming the holder, and
//     serves the same output;
//   - kill -9 of the holder: the other replica takes ingest within 10 s
//     (the lease TTL), and the channel goes on where it was (segment
//     numbers, key periods, the open segment) with nothing published
//     changed;
//   - a holder frozen with SIGSTOP while a fragment is half sent loses the
//     channel to the other replica; woken with SIGCONT, its write of that
//     fragment is refused and the new holder's output stays as it was.
func TestLiveReplicasLease(t *testing.T) {
	t.Parallel()
	bin, cleanup, err := testtools.BuildDrmpipe("drmpipe-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	pg := testtools.StartPostgres(t)
	const ttl = 6 * time.Second
	d := newDeployment(t, setup{StoreDSN: pg.DSN, Edit: func(m map[string]any) {
		m["live"] = map[string]any{"lease_ttl": ttl.String(), "dir": filepath.Join(t.TempDir(), "shared-live")}
	}})
	key := createIngestChannel(t, d, "rp")
	init, frags := liveVideoObjects(t)
	cfgA, cfgB := replicaConfig(t, d, "replica-a"), replicaConfig(t, d, "replica-b")
	a := startServeWith(t, d, bin, cfgA)
	b := startServeWith(t, d, bin, cfgB)
	push := func(p *serveProcess, path string, body []byte) {
		t.Helper()
		if code, msg := ingestPut(p.url, key, "rp/video/"+path, bytes.NewReader(body)); code != 200 {
			t.Fatalf("PUT %s: %d %s\n%s", path, code, msg, p.logs.Bytes())
		}
	}
	get := func(p *serveProcess, path string) []byte {
		t.Helper()
		resp := do(t, "GET", p.url+"/live/rp/"+path, nil)
		if resp.status != 200 {
			t.Fatalf("GET %s: %d", path, resp.status)
		}
		return resp.body
	}
	// refused checks that p answers ingest with 409 channel_held naming
	// holder.
	refused := func(p *serveProcess, holder string, code int, body []byte) {
		t.Helper()
		r := response{status: code, body: body}
		if code != http.StatusConflict {
			t.Fatalf("ingest on the replica not holding the channel: %d %s, want 409", code, body)
		}
		if e := r.errBody(t); e.Code != "channel_held" || !strings.Contains(e.Message, `"`+holder+`"`) || e.RetryAfter < 1 || e.RetryAfter > int(ttl/time.Second) {
			t.Fatalf("refusal %+v: want code channel_held naming %s, retryAfter 1..%d", e, holder, int(ttl/time.Second))
		}
	}

	// Replica a takes the channel: segments 1-3 published, the 4th open.
	push(a, "init.mp4", init)
	for i := range 4 {
		push(a, fmt.Sprintf("%d.m4s", i+1), frags[i])
	}
	code, body := ingestPut(b.url, key, "rp/video/init.mp4", bytes.NewReader(init))
	refused(b, "replica-a", code, body)
	if code, _ := ingestPut(b.url, key, "rp/video/5.m4s", bytes.NewReader(frags[4])); code != http.StatusConflict {
		t.Fatalf("fragment on the replica not holding the channel: %d", code)
	}
	before := string(get(a, "video/playlist.m3u8"))
	if got := string(get(b, "video/playlist.m3u8")); got != before {
		t.Fatalf("the replicas serve different playlists:\na:\n%s\nb:\n%s", before, got)
	}
	published := map[string][]byte{}
	for _, m := range regexp.MustCompile(`(?m)^(seg_[0-9]+\.m4s)$|URI="(init_p[0-9]+\.mp4)"`).FindAllStringSubmatch(before, -1) {
		published[m[1]+m[2]] = get(b, "video/"+m[1]+m[2])
	}
	if len(published) != 5 || published["seg_3.m4s"] == nil { // 3 segments, init_p0 and init_p1
		t.Fatalf("published by a: %d objects\n%s", len(published), before)
	}
	mpdBefore := string(get(b, "manifest.mpd"))

	// kill -9 of the holder: the encoder goes to b (header again, then the
	// next fragment) and retries until b takes the channel.
	a.kill()
	killed := time.Now()
	var takeover time.Duration
	for {
		code, body := ingestPut(b.url, key, "rp/video/init.mp4", bytes.NewReader(init))
		if code == 200 {
			takeover = time.Since(killed)
			break
		}
		refused(b, "replica-a", code, body)
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("replica b did not take the channel over within 10 s of the holder's kill -9")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("takeover after kill -9 of the holder: %s (lease TTL %s)", takeover.Round(time.Millisecond), ttl)
	push(b, "5.m4s", frags[4]) // closes segment 4, begun on a
	after := string(get(b, "video/playlist.m3u8"))
	if !strings.Contains(after, "seg_4.m4s") || strings.Contains(after, "#EXT-X-DISCONTINUITY\n") {
		t.Fatalf("playlist after the takeover: want segment 4 without a discontinuity:\n%s", after)
	}
	mpdAfter := assertPublishedKept(t, "the takeover", func(path string) []byte { return get(b, path) }, before, after, mpdBefore, published)
	if !strings.Contains(mpdAfter, `<Period id="0" start="PT0S">`) || !strings.Contains(mpdAfter, `<Period id="1"`) {
		t.Fatalf("MPD after the takeover:\n%s\nbefore:\n%s", mpdAfter, mpdBefore)
	}

	// Replica a comes back (same ID): b holds the channel now.
	a = startServeWith(t, d, bin, cfgA)
	code, body = ingestPut(a.url, key, "rp/video/init.mp4", bytes.NewReader(init))
	refused(a, "replica-b", code, body)

	// b freezes (SIGSTOP) in the middle of the encoder's sixth fragment.
	pr, pw := io.Pipe()
	type result struct {
		code int
		body []byte
	}
	stale := make(chan result, 1)
	go func() {
		code, body := ingestPut(b.url, key, "rp/video/6.m4s", pr)
		stale <- result{code, body}
	}()
	half := len(frags[5]) / 2
	if _, err := pw.Write(frags[5][:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// The encoder gives up on b and goes to a, which takes over once b's
	// lease has expired.
	for {
		code, body := ingestPut(a.url, key, "rp/video/init.mp4", bytes.NewReader(init))
		if code == 200 {
			t.Logf("takeover from a frozen holder: %s", time.Since(stopped).Round(time.Millisecond))
			break
		}
		refused(a, "replica-b", code, body)
		if time.Since(stopped) > 10*time.Second {
			t.Fatal("replica a did not take the channel over within 10 s of the holder's SIGSTOP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	push(a, "6.m4s", frags[5]) // closes segment 5, begun on b
	newer := string(get(a, "video/playlist.m3u8"))
	if !strings.Contains(newer, "seg_5.m4s") || !strings.Contains(newer, after[strings.Index(after, "#EXT-X-MAP"):]) {
		t.Fatalf("playlist after the second takeover:\n%s\nbefore:\n%s", newer, after)
	}
	seg5 := get(a, "video/seg_5.m4s")
	mpdNewer := get(a, "manifest.mpd")

	// b wakes up and receives the rest of its fragment: refused, and the
	// channel's output is a's.
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(frags[5][half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-stale
	if r.code != http.StatusConflict {
		t.Fatalf("the woken stale holder's fragment: %d %s, want 409\n%s", r.code, r.body, b.logs.Bytes())
	}
	refused(b, "replica-a", r.code, r.body)
	// b's renewal also finds the lease gone; give it a renewal period.
	time.Sleep(ttl / 3)
	for _, p := range []*serveProcess{a, b} {
		if got := string(get(p, "video/playlist.m3u8")); got != newer {
			t.Errorf("playlist served by the replica on %s after the stale holder woke:\n%s\nwant a's:\n%s", p.url, got, newer)
		}
		if !bytes.Equal(get(p, "video/seg_5.m4s"), seg5) || !bytes.Equal(get(p, "manifest.mpd"), mpdNewer) {
			t.Errorf("segment 5 or the MPD changed after the stale holder woke (served by %s)", p.url)
		}
	}
	code, body = ingestPut(b.url, key, "rp/video/7.m4s", bytes.NewReader(frags[5]))
	refused(b, "replica-a", code, body)
	if !strings.Contains(string(b.logs.Bytes()), "channel taken over by another replica") {
		t.Errorf("the stale holder did not log the takeover:\n%s", ingestLog(b.logs.Bytes()))
	}
	a.kill()
	b.kill()
}
