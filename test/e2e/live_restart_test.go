package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// serveProcess is `drmpipe serve` as a real process.
type serveProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *testtools.SyncBuffer
}

// startServe runs bin serve --config with the deployment's configuration
// and waits for its address.
func startServe(t *testing.T, d *deployment, bin string) *serveProcess {
	t.Helper()
	return startServeWith(t, d, bin, d.cfgFile)
}

// startServeWith runs bin serve --config cfgFile (a configuration of
// deployment d) and waits for its address.
func startServeWith(t *testing.T, d *deployment, bin, cfgFile string) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: exec.Command(bin, "serve", "--config", cfgFile), logs: &testtools.SyncBuffer{}}
	d.secrets.addLog("serve process log", p.logs.Bytes)
	p.cmd.Stderr = p.logs
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`drmpipe serving on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case u, ok := <-addr:
		if !ok {
			t.Fatalf("drmpipe serve exited:\n%s", p.logs.Bytes())
		}
		p.url = u
	case <-time.After(20 * time.Second):
		t.Fatalf("drmpipe serve did not listen within 20 s:\n%s", p.logs.Bytes())
	}
	return p
}

// kill sends SIGKILL (kill -9) and reaps the process.
func (p *serveProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// TestLiveKill9Restart kills `drmpipe serve` (kill -9) while an encoder is
// in the middle of sending a segment, restarts it on the same data
// directory, and has the encoder reconnect as README "Live channels" tells
// it to (send the CMAF header again, then go on from the fragment that was
// cut off, with continuing timestamps): the channel resumes (segment
// numbers, timeline, key periods), and every segment, init segment and
// manifest entry published before the kill is unchanged.
func TestLiveKill9Restart(t *testing.T) {
	bin, cleanup, err := testtools.BuildDrmpipe("drmpipe-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	d := newDeployment(t, setup{})
	key := createIngestChannel(t, d, "rs")
	init, frags := liveVideoObjects(t)

	srv := startServe(t, d, bin)
	put := func(url, path string, body io.Reader) int {
		req, _ := http.NewRequest("PUT", url+"/ingest/"+path, body)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(srv.url, "rs/video/init.mp4", bytes.NewReader(init)); code != 200 {
		t.Fatalf("init: %d\n%s", code, srv.logs.Bytes())
	}
	for i := range 4 { // segments 1-3 published, the 4th GOP open
		if code := put(srv.url, fmt.Sprintf("rs/video/%d.m4s", i+1), bytes.NewReader(frags[i])); code != 200 {
			t.Fatalf("fragment %d: %d", i+1, code)
		}
	}
	get := func(url, path string) []byte {
		resp := do(t, "GET", url+"/live/rs/"+path, nil)
		if resp.status != 200 {
			t.Fatalf("GET %s: %d", path, resp.status)
		}
		return resp.body
	}
	before := string(get(srv.url, "video/playlist.m3u8"))
	published := map[string][]byte{}
	for _, name := range regexp.MustCompile(`(?m)^(seg_[0-9]+\.m4s)$|URI="(init_p[0-9]+\.mp4)"`).FindAllStringSubmatch(before, -1) {
		n := name[1] + name[2]
		published[n] = get(srv.url, "video/"+n)
	}
	if len(published) != 5 || published["seg_3.m4s"] == nil { // 3 segments, init_p0 and init_p1
		t.Fatalf("published before the kill: %d objects\n%s", len(published), before)
	}
	mpdBefore := string(get(srv.url, "manifest.mpd"))

	// The fifth fragment is half sent when the server dies.
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- put(srv.url, "rs/video/5.m4s", pr) }()
	half := len(frags[4]) / 2
	if _, err := pw.Write(frags[4][:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	srv.kill()
	pw.Close()
	if code := <-done; code == 200 {
		t.Fatal("the cut-off fragment was accepted")
	}

	// Restart; the encoder reconnects: header, then fragment 5 again.
	srv = startServe(t, d, bin)
	if code := put(srv.url, "rs/video/init.mp4", bytes.NewReader(init)); code != 200 {
		t.Fatalf("init after the restart: %d\n%s", code, srv.logs.Bytes())
	}
	for i := 4; i < len(frags); i++ {
		if code := put(srv.url, fmt.Sprintf("rs/video/%d.m4s", i+1), bytes.NewReader(frags[i])); code != 200 {
			t.Fatalf("fragment %d after the restart: %d\n%s", i+1, code, srv.logs.Bytes())
		}
	}
	after := string(get(srv.url, "video/playlist.m3u8"))
	if !strings.Contains(after, "seg_5.m4s") || strings.Contains(after, "#EXT-X-DISCONTINUITY\n") {
		t.Fatalf("playlist after the restart: want segments to go on from 4 without a discontinuity:\n%s", after)
	}
	mpdAfter := assertPublishedKept(t, "the restart", func(path string) []byte { return get(srv.url, path) }, before, after, mpdBefore, published)
	if !strings.Contains(mpdAfter, `<Period id="0" start="PT0S">`) || !strings.Contains(mpdAfter, `<Period id="2"`) {
		t.Fatalf("MPD after the restart:\n%s\nbefore:\n%s", mpdAfter, mpdBefore)
	}
	srv.kill()
}

// createIngestChannel creates channel name (4 s key periods, a 60 s
// window, ClearKey) in d's data directory and returns a new API key of
// scope ingest for its encoder.
func createIngestChannel(t *testing.T, d *deployment, name string) string {
	t.Helper()
	if _, stderr, code := d.cli(t, "channel", "create", "--config", d.cfgFile, name, "--key-period=4s", "--window=60s", "--drm=clearkey"); code != 0 {
		t.Fatalf("channel create: %s", stderr)
	}
	key, stderr, code := d.cli(t, "apikey", "create", "--config", d.cfgFile, "--scope", "ingest", "--name", "encoder")
	if code != 0 {
		t.Fatalf("apikey create: %s", stderr)
	}
	key = strings.TrimSpace(key)
	d.secrets.addString("API key", key)
	return key
}

// assertPublishedKept checks that nothing published before event (a
// restart, a takeover) changed: every line of the video playlist before
// (but the window's header) is in after, in order; every published file
// has its bytes; the MPD's availabilityStartTime is the same. It returns
// the MPD as get serves it now.
func assertPublishedKept(t *testing.T, event string, get func(path string) []byte, before, after, mpdBefore string, published map[string][]byte) string {
	t.Helper()
	cut := strings.Index(before, "#EXT-X-MAP")
	if !strings.Contains(after, before[cut:]) {
		t.Fatalf("%s changed what the playlist listed:\nbefore:\n%s\nafter:\n%s", event, before, after)
	}
	for n, body := range published {
		if !bytes.Equal(get("video/"+n), body) {
			t.Errorf("%s changed in %s", n, event)
		}
	}
	ast := regexp.MustCompile(`availabilityStartTime="[^"]+"`)
	mpdAfter := string(get("manifest.mpd"))
	if ast.FindString(mpdBefore) != ast.FindString(mpdAfter) {
		t.Fatalf("%s changed availabilityStartTime:\n%s\nbefore:\n%s", event, mpdAfter, mpdBefore)
	}
	return mpdAfter
}
