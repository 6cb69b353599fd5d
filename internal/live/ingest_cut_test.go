package live

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// rawIngest opens a loopback connection to env's server and writes an
// ingest request's head and whole chunks (nil: a Content-Length of
// length), then, for a chunked body, the size line of a chunk of length
// and the first bytes of it, cut: the request as an encoder that is gone
// left it.
func (env *liveEnv) rawIngest(t *testing.T, method, path string, length int, chunks [][]byte, cut []byte) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s%s HTTP/1.1\r\nHost: drmpipe\r\nAuthorization: Bearer %s\r\n", method, IngestPrefix, path, env.key)
	if chunks == nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", length)
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for _, c := range chunks {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
		}
		fmt.Fprintf(&b, "%x\r\n", length)
	}
	b.Write(cut)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return conn.(*net.TCPConn)
}

// answer half-closes c (the client's FIN: its body ends there) and reads
// the server's answer.
func answer(t *testing.T, c *net.TCPConn) (int, httperr.Body, http.Header) {
	t.Helper()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e httperr.Body
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("answer %d, body not the error schema: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, e, resp.Header
}

// logLine is one JSON log line of the packager.
type logLine struct {
	Level   string `json:"level"`
	Msg     string `json:"msg"`
	Channel string `json:"channel"`
	Track   string `json:"track"`
	Bytes   *int64 `json:"bytes"`
	Error   string `json:"error"`
}

// logLines parses the JSON log lines written to b after the first from
// bytes.
func logLines(t *testing.T, b []byte, from int) []logLine {
	t.Helper()
	var out []logLine
	for _, s := range strings.Split(strings.TrimSpace(string(b[from:])), "\n") {
		if s == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, l)
	}
	return out
}

// waitLog waits until a log line about channel is written after the first
// from bytes, and returns the lines written after from.
func waitLog(t *testing.T, logs *testtools.SyncBuffer, from int, channel string) []logLine {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		lines := logLines(t, logs.Bytes(), from)
		for _, l := range lines {
			if l.Channel == channel {
				return lines
			}
		}
	}
	t.Fatalf("no log line about channel %q:\n%s", channel, logs.Bytes()[from:])
	return nil
}

// snapshot is every file, directory and symbolic link under dir with its
// content or target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "-> " + target
			return err
		default:
			b, err := os.ReadFile(p)
			out[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// channelState is the channel's state in memory, as it would be committed.
func (env *liveEnv) channelState(t *testing.T, name string) string {
	t.Helper()
	env.p.mu.Lock()
	c := env.p.chans[name]
	env.p.mu.Unlock()
	if c == nil {
		t.Fatalf("channel %q not loaded", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := json.Marshal(c.st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An ingest body the encoder cuts short mid-fragment (it exits, or its
// network drops: the connection is reset or closed) is the client's
// failure, not the server's: logged at WARN with the channel, the track
// and the bytes that arrived, never at ERROR, and answered, when the
// connection still takes an answer, with 400 invalid_request saying the
// body ended early (not 503 "retry", which tells the operator the server
// failed). The channel keeps its state: the cut fragment is dropped,
// nothing published or saved changes, and the encoder's next complete
// request continues the timeline.
func TestLiveIngestCutByClient(t *testing.T) {
	objs, err := readAll(t, bytes.NewReader(cmafTrack(t, 10)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	frag := func(i int) []byte { return append(append([]byte(nil), objs[i].data...), objs[i].mdat...) }
	var logs testtools.SyncBuffer
	dir := t.TempDir()
	env := newLiveEnv(t, dir, nil, clearKeyChannel("cut"), func(_ *Config, d *Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	env.put(t, "cut/v/init.mp4", objs[0].data)
	for i := 1; i <= 3; i++ { // segments 1 and 2 published, the third open
		env.put(t, fmt.Sprintf("cut/v/%d.m4s", i), frag(i))
	}
	out := filepath.Join(dir, "live", "cut")
	files, state := snapshot(t, out), env.channelState(t, "cut")
	next := frag(4)
	half := next[:len(next)/2]
	// The encoder's last MPD (its end of stream), cut after MPD@type.
	mpd := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S">` +
		"\n" + `<Period id="0" start="PT0S"></Period></MPD>` + "\n")
	mpdPart := mpd[:bytes.Index(mpd, []byte("<Period"))]

	for _, c := range []struct {
		name string
		send func() *net.TCPConn
		// track is the track logged; arrived the body bytes the server read.
		track   string
		arrived int
		// reset: the connection is reset; else half-closed and answered.
		reset bool
	}{
		{"PUT, connection reset", func() *net.TCPConn { return env.rawIngest(t, "PUT", "cut/v/4.m4s", len(next), nil, half) }, "v", len(half), true},
		{"long POST, connection reset", func() *net.TCPConn {
			return env.rawIngest(t, "POST", "cut/Streams(v.cmfv)", len(next), [][]byte{objs[0].data}, half)
		}, "v", len(objs[0].data) + len(half), true},
		{"PUT, connection closed", func() *net.TCPConn { return env.rawIngest(t, "PUT", "cut/v/4.m4s", len(next), nil, half) }, "v", len(half), false},
		{"long POST, connection closed", func() *net.TCPConn {
			return env.rawIngest(t, "POST", "cut/Streams(v.cmfv)", len(next), [][]byte{objs[0].data}, half)
		}, "v", len(objs[0].data) + len(half), false},
		// Not an end of stream: the channel goes on.
		{"encoder's final MPD, connection closed", func() *net.TCPConn { return env.rawIngest(t, "PUT", "cut/stream.mpd", len(mpd), nil, mpdPart) },
			"", len(mpdPart), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			from := len(logs.Bytes())
			conn := c.send()
			if c.reset {
				testtools.ResetWhenSent(t, conn)
			} else {
				status, e, h := answer(t, conn)
				if status != http.StatusBadRequest || e.Code != httperr.CodeInvalidRequest || !strings.Contains(e.Message, "ingest body ended early") ||
					e.RetryAfter != 0 || h.Get("Retry-After") != "" {
					t.Errorf("answer %d %+v, want 400 invalid_request \"ingest body ended early\" without retryAfter", status, e)
				}
			}
			warned := false
			for _, l := range waitLog(t, &logs, from, "cut") {
				if l.Level == "ERROR" {
					t.Errorf("logged at ERROR: %+v", l)
				}
				if l.Level == "WARN" && l.Channel == "cut" && l.Track == c.track && l.Bytes != nil {
					warned = true
					if *l.Bytes != int64(c.arrived) {
						t.Errorf("logged %d bytes arrived, want %d: %+v", *l.Bytes, c.arrived, l)
					}
				}
			}
			if !warned {
				t.Errorf("no WARN line naming channel cut, track %q and the bytes that arrived:\n%s", c.track, logs.Bytes()[from:])
			}
			if got := snapshot(t, out); !maps.Equal(got, files) {
				t.Errorf("the cut request changed the channel's files:\n%s", diffKeys(got, files))
			}
			if got := env.channelState(t, "cut"); got != state {
				t.Errorf("the cut request changed the channel's state:\n%s\nwas\n%s", got, state)
			}
		})
	}
	// The encoder sends the cut fragment again, whole, and goes on.
	env.put(t, "cut/v/init.mp4", objs[0].data)
	env.put(t, "cut/v/4.m4s", next)
	env.put(t, "cut/v/5.m4s", frag(5))
	pl := env.get(t, "cut/v/playlist.m3u8")
	if !strings.Contains(pl, "seg_3.m4s") || !strings.Contains(pl, "seg_4.m4s") || strings.Contains(pl, "seg_5.m4s") {
		t.Fatalf("playlist after the encoder sent the fragment again:\n%s", pl)
	}
	for rel, content := range files {
		if strings.HasPrefix(rel, filepath.Join("v", "seg_")) || strings.HasPrefix(rel, filepath.Join("v", "init_p")) {
			if b, err := os.ReadFile(filepath.Join(out, rel)); err != nil || string(b) != content {
				t.Errorf("%s changed after the encoder went on: %v", rel, err)
			}
		}
	}
}

// diffKeys names the entries that differ between got and want.
func diffKeys(got, want map[string]string) string {
	var out []string
	for k, v := range got {
		if w, ok := want[k]; !ok {
			out = append(out, "new "+k)
		} else if w != v {
			out = append(out, "changed "+k)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			out = append(out, "gone "+k)
		}
	}
	return strings.Join(out, "\n")
}

// failingLeases is the real lease table whose state writes start failing
// after allow more of them (none fail while allow is negative), with the
// error a database connection reset by its server gives (pgx's read
// error): the same ECONNRESET a client's reset gives, but the server's own
// failure.
type failingLeases struct {
	leaseTable
	allow atomic.Int64
}

func (f *failingLeases) SaveLeaseState(ctx context.Context, channel string, fence int64, state []byte) error {
	if f.allow.Load() >= 0 && f.allow.Add(-1) < 0 {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	return f.leaseTable.SaveLeaseState(ctx, channel, fence, state)
}

// A failure of the server's own store during ingest stays the server's:
// 503 with retryAfter and an ERROR line naming the channel and track, even
// when its error is a connection reset, and even when the encoder's body
// was also cut short (a fragment accepted before the cut was not saved:
// the encoder must send it again; before, that answer was 400, the cut
// hiding the failed save, or 409 channel_held). Once the store is back, the encoder goes on
// from the last saved state.
func TestLiveIngestStoreFailure(t *testing.T) {
	// Fragments of 1 s, half a GOP: a fragment that starts inside a GOP
	// closes no segment and is saved with the request's end.
	objs, err := readAll(t, bytes.NewReader(cmafVideo(t, 8, "-frag_duration", "1000000", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf")), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	frag := func(i int) []byte { return append(append([]byte(nil), objs[i].data...), objs[i].mdat...) }
	var logs testtools.SyncBuffer
	var leases *failingLeases
	env := newLiveEnv(t, t.TempDir(), nil, clearKeyChannel("sf"), func(_ *Config, d *Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		leases = &failingLeases{leaseTable: d.Leases}
		leases.allow.Store(-1)
		d.Leases = leases
	})
	env.put(t, "sf/v/init.mp4", objs[0].data)
	for i := 1; i <= 3; i++ { // 0-3 s: segment 1 published, the second open
		env.put(t, fmt.Sprintf("sf/v/%d.m4s", i), frag(i))
	}
	for _, c := range []struct {
		name string
		send func() (int, httperr.Body, http.Header)
	}{
		{"whole PUT", func() (int, httperr.Body, http.Header) { return env.putStatus(t, "sf/v/4.m4s", frag(4)) }},
		// Fragment 4 (3-4 s) is accepted, then the body is cut inside
		// fragment 5: the save of fragment 4 at the request's end fails.
		{"long POST cut after a whole fragment", func() (int, httperr.Body, http.Header) {
			return answer(t, env.rawIngest(t, "POST", "sf/Streams(v.cmfv)", len(frag(5)), [][]byte{objs[0].data, frag(4)}, frag(5)[:100]))
		}},
		// Fragment 4 is accepted, fragment 5 closes segment 2 and its save
		// fails: the channel is dropped with fragment 4 unsaved, which is
		// no lost lease (before, 409 channel_held).
		{"long POST whose second fragment's save fails", func() (int, httperr.Body, http.Header) {
			return env.putStatus(t, "sf/Streams(v.cmfv)", slices.Concat(objs[0].data, frag(4), frag(5)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A failed state write drops the channel from memory: the
			// encoder's header loads it again, from its last saved state.
			leases.allow.Store(-1)
			env.put(t, "sf/v/init.mp4", objs[0].data)
			leases.allow.Store(0)
			from := len(logs.Bytes())
			status, e, h := c.send()
			if status != http.StatusServiceUnavailable || e.Code != httperr.CodeUnavailable || e.RetryAfter < 1 || h.Get("Retry-After") == "" {
				t.Errorf("answer %d %+v, want 503 unavailable with retryAfter", status, e)
			}
			errored := false
			for _, l := range waitLog(t, &logs, from, "sf") {
				errored = errored || l.Level == "ERROR" && l.Channel == "sf" && l.Track == "v"
				if strings.Contains(l.Msg, "ended early") {
					t.Errorf("the server's failure logged as the client's: %+v", l)
				}
			}
			if !errored {
				t.Errorf("no ERROR line naming channel sf and track v:\n%s", logs.Bytes()[from:])
			}
		})
	}
	leases.allow.Store(-1)
	env.put(t, "sf/v/init.mp4", objs[0].data)
	for i := 4; i < len(objs); i++ {
		env.put(t, fmt.Sprintf("sf/v/%d.m4s", i), frag(i))
	}
	if pl := env.get(t, "sf/v/playlist.m3u8"); !strings.Contains(pl, "seg_3.m4s") {
		t.Fatalf("playlist after the store came back:\n%s", pl)
	}
}
