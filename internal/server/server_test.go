package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOriginServing(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "movie", "video_720p"), 0o755)
	os.WriteFile(filepath.Join(root, "movie", "manifest.mpd"), []byte("<MPD/>"), 0o644)
	os.WriteFile(filepath.Join(root, "movie", "master.m3u8"), []byte("#EXTM3U\n"), 0o644)
	seg := bytes.Repeat([]byte{1, 2, 3, 4}, 1000)
	os.WriteFile(filepath.Join(root, "movie", "video_720p", "seg_1.m4s"), seg, 0o644)
	os.WriteFile(filepath.Join(root, "movie", "video_720p", "init.mp4"), seg[:100], 0o644)
	os.WriteFile(filepath.Join(root, "movie", ".drmpipe-output"), []byte("x"), 0o644)
	s, err := New(Config{ContentDir: root}, Deps{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	cases := []struct {
		path, rng  string
		status     int
		ctype      string
		cacheShort bool
		body       []byte
	}{
		{"/content/movie/manifest.mpd", "", 200, "application/dash+xml", true, []byte("<MPD/>")},
		{"/content/movie/master.m3u8", "", 200, "application/vnd.apple.mpegurl", true, nil},
		{"/content/movie/video_720p/init.mp4", "", 200, "video/mp4", false, seg[:100]},
		{"/content/movie/video_720p/seg_1.m4s", "bytes=10-19", 206, "video/iso.segment", false, seg[10:20]},
		{"/content/movie/.drmpipe-output", "", 404, "application/json", false, nil},
		{"/content/../../etc/passwd", "", 404, "application/json", false, nil},
		{"/content/movie/nope.m4s", "", 404, "application/json", false, nil},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
			t.Errorf("%s: content type %q, want %q", tc.path, ct, tc.ctype)
		}
		if tc.status >= 400 {
			if !strings.Contains(string(body), `"code":"not_found"`) {
				t.Errorf("%s: error body %s", tc.path, body)
			}
			continue
		}
		cc := resp.Header.Get("Cache-Control")
		if tc.cacheShort != strings.Contains(cc, "max-age=2") || !tc.cacheShort && !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", tc.path, cc)
		}
		if tc.body != nil && !bytes.Equal(body, tc.body) {
			t.Errorf("%s: body %d bytes differs", tc.path, len(body))
		}
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s: no CORS header", tc.path)
		}
	}
}

func TestReadinessAndRequestID(t *testing.T) {
	var storeDown bool
	s, _ := New(Config{}, Deps{Logger: quietLogger(), Checks: []Check{{Name: "store", Check: func(context.Context) error {
		if storeDown {
			return errors.New("database is down")
		}
		return nil
	}}}})
	get := func(path string, hdr map[string]string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	if rec := get("/readyz", nil); rec.Code != 200 {
		t.Fatalf("ready: %d %s", rec.Code, rec.Body)
	}
	storeDown = true
	if rec := get("/readyz", nil); rec.Code != 503 || !strings.Contains(rec.Body.String(), "database is down") {
		t.Fatalf("not ready: %d %s", rec.Code, rec.Body)
	}
	if rec := get("/healthz", nil); rec.Code != 200 {
		t.Fatalf("healthz %d", rec.Code)
	}
	if id := get("/healthz", map[string]string{"X-Request-Id": "abc-123"}).Header().Get("X-Request-Id"); id != "abc-123" {
		t.Errorf("request id not echoed: %q", id)
	}
	if id := get("/healthz", map[string]string{"X-Request-Id": "bad id\n"}).Header().Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("bad request id not replaced: %q", id)
	}
}

func TestBodyLimitAndPanic(t *testing.T) {
	s, _ := New(Config{MaxBodyBytes: 10}, Deps{Logger: quietLogger(), Routes: []Route{
		{"POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				http.Error(w, "too big", http.StatusRequestEntityTooLarge)
				return
			}
		})},
		{"GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })},
	}})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/echo", strings.NewReader(strings.Repeat("x", 100))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic answer %d %s", rec.Code, rec.Body)
	}
}

// TestGracefulShutdown: cancelling Run's context lets an in-flight request
// finish, refuses new connections, and flips readiness.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	s, _ := New(Config{Listen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second}, Deps{Logger: quietLogger(), Routes: []Route{
		{"GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "done")
		})},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	addr := (<-addrc).String()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request: %q", body)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}
