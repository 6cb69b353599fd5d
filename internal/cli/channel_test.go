package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestChannelCommands drives `drmpipe channel` on a data directory: create
// prints the URLs, list and show read the stored settings back, bad
// arguments are refused naming the flag, delete removes the channel.
func TestChannelCommands(t *testing.T) {
	d := "--data=" + filepath.Join(t.TempDir(), "data")
	code, out, stderr := run(t, "channel", "create", d, "--listen=127.0.0.1:9000", "news1", "--key-period=4s", "--window=30s", "--scheme=cenc")
	if code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	for _, want := range []string{
		"http://127.0.0.1:9000/ingest/news1/stream.mpd", "http://127.0.0.1:9000/ingest/news1/Streams(video.cmfv)",
		"http://127.0.0.1:9000/live/news1/manifest.mpd", "http://127.0.0.1:9000/live/news1/master.m3u8",
		"key period 4s", "window 30s", "cenc", "widevine,playready,clearkey",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if code, _, stderr := run(t, "channel", "create", d, "news1"); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second create: code %d %s", code, stderr)
	}
	cases := []struct{ args, want string }{
		{"--key-period=3s", "key-period 3s is not a whole number of segments"},
		{"--window=4s", "window 4s"},
		{"--scheme=aes", "--scheme"},
		{"--drm=fairplay --scheme=cenc", "fairplay needs scheme cbcs"},
		{"--drm=nagra", "--drm"},
		{"--keys-per=track", "--keys-per"},
		{"--segment-duration=100ms", "segment-duration 100ms"},
	}
	for _, c := range cases {
		args := append([]string{"channel", "create", d, "ok1"}, strings.Fields(c.args)...)
		if code, _, stderr := run(t, args...); code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: code %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
	if code, _, stderr := run(t, "channel", "create", d, "../etc"); code == 0 || !strings.Contains(stderr, "name") {
		t.Errorf("bad name: code %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "channel", "create", d, "sport", "--keys-per=track-type", "--drm=clearkey"); code != 0 {
		t.Fatalf("create sport: %s", stderr)
	}
	_, listed, _ := run(t, "channel", "list", d)
	if !strings.Contains(listed, "news1") || !strings.Contains(listed, "sport") || !strings.Contains(listed, "track-type") {
		t.Fatalf("list: %s", listed)
	}
	_, shown, _ := run(t, "channel", "show", d, "sport")
	if !strings.Contains(shown, "clearkey") || !strings.Contains(shown, "key period 1m0s") {
		t.Fatalf("show: %s", shown)
	}
	if code, _, stderr := run(t, "channel", "delete", d, "sport"); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if code, _, stderr := run(t, "channel", "show", d, "sport"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Fatalf("show after delete: %d %s", code, stderr)
	}
}

// `drmpipe channel stop` on the data directory ends a channel (an unknown
// one is an error naming it), --archive is stored and shown, and --server
// without an admin API key is refused before any request.
func TestChannelStopAndServerFlags(t *testing.T) {
	t.Setenv("DRMPIPE_API_KEY", "")
	d := "--data=" + filepath.Join(t.TempDir(), "data")
	if code, out, stderr := run(t, "channel", "create", d, "ev1", "--archive"); code != 0 || !strings.Contains(out, "archived") {
		t.Fatalf("create --archive: %d %s %s", code, out, stderr)
	}
	if _, listed, _ := run(t, "channel", "list", d); !strings.Contains(listed, "ARCHIVE") || !strings.Contains(listed, "true") {
		t.Fatalf("list: %s", listed)
	}
	if code, out, stderr := run(t, "channel", "stop", d, "ev1"); code != 0 || !strings.Contains(out, "stopped channel ev1") {
		t.Fatalf("stop: %d %s %s", code, out, stderr)
	}
	if code, _, stderr := run(t, "channel", "stop", d, "nope"); code == 0 || !strings.Contains(stderr, `channel not found: "nope"`) {
		t.Fatalf("stop of an unknown channel: %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "channel", "list", "--server", "http://127.0.0.1:1"); code == 0 || !strings.Contains(stderr, "admin API key is required") {
		t.Fatalf("--server without a key: %d %s", code, stderr)
	}
}
