package e2e

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestLiveIngestPipelinedThenReset is how ffmpeg's DASH muxer ends a push
// that runs faster than real time: on one persistent connection it sends
// its PUTs back to back without reading the answers (HTTP/1.1 pipelining,
// RFC 9112 §9.3.2), then exits, and closing a socket with unread answers
// resets it (RFC 9293 §3.10.7.4 leaves unread data to the application; the
// kernel answers with RST). Every object the encoder sent whole before the
// reset must be packaged: the server's answers are lost, its requests are
// not. (Before, the first answer written after the reset failed, the
// server dropped the connection, and the objects still queued on it were
// lost: ffmpeg's fast pushes ended one or more segments short.)
func TestLiveIngestPipelinedThenReset(t *testing.T) {
	d := newDeployment(t, setup{})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	ingestKey := r.apiKey(t, apikey.ScopeIngest)
	if _, stderr, code := d.cli(t, "channel", "create", "pl", "--key-period=60s", "--drm=clearkey", "--server", r.url, "--api-key", adminKey); code != 0 {
		t.Fatalf("channel create: %s", stderr)
	}
	init, frags := liveVideoObjects(t)

	// Every request on one connection, written before any answer is read.
	var reqs bytes.Buffer
	put := func(name string, body []byte) {
		fmt.Fprintf(&reqs, "PUT /ingest/pl/%s HTTP/1.1\r\nHost: drmpipe\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", name, ingestKey, len(body))
		reqs.Write(body)
	}
	put("init-video.m4s", init)
	for i, f := range frags {
		put(fmt.Sprintf("chunk-video-%05d.m4s", i+1), f)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	// The encoder exits once the kernel has sent all it wrote (what it
	// had not would be lost with the reset, server or not): its socket
	// closes with the server's answers unread, which the kernel turns
	// into a reset (SO_LINGER 0 makes that certain however soon the
	// answers come).
	testtools.ResetWhenSent(t, conn.(*net.TCPConn))

	// Every fragment but the last closes a segment: all are published.
	want := fmt.Sprintf("seg_%d.m4s", len(frags)-1)
	var pl string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		resp := do(t, "GET", r.url+"/live/pl/video/playlist.m3u8", nil)
		pl = string(resp.body)
		if resp.status == 200 && strings.Contains(pl, want) {
			break
		}
	}
	if got := len(regexp.MustCompile(`(?m)^seg_[0-9]+\.m4s$`).FindAllString(pl, -1)); got != len(frags)-1 {
		t.Fatalf("%d segments published of the %d the encoder's %d fragments close:\n%s", got, len(frags)-1, len(frags), pl)
	}
}
