package origin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// originTree builds a data directory whose content root holds a packaged
// movie and, beside it, secrets the origin must never serve (a stand-in for
// the KEK file, the key database and the token signing key). It returns the
// content root and the secret bytes.
func originTree(t testing.TB) (root string, secret []byte) {
	t.Helper()
	data := t.TempDir()
	secret = []byte("KEK-0123456789abcdef-must-never-leave-the-server")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(data, "secrets"), 0o700))
	must(os.WriteFile(filepath.Join(data, "secrets", "kek.key"), secret, 0o600))
	root = filepath.Join(data, "content")
	must(os.MkdirAll(filepath.Join(root, "movie", "video_720p"), 0o755))
	must(os.WriteFile(filepath.Join(root, "movie", "manifest.mpd"), []byte("<MPD/>"), 0o644))
	must(os.WriteFile(filepath.Join(root, "movie", "video_720p", "seg_1.m4s"), bytes.Repeat([]byte{9, 8, 7, 6}, 64), 0o644))
	// A symlinked file that leaves the content root.
	must(os.Symlink(filepath.Join("..", "..", "secrets", "kek.key"), filepath.Join(root, "movie", "kek.mp4")))
	// The same by an absolute target.
	must(os.Symlink(filepath.Join(data, "secrets", "kek.key"), filepath.Join(root, "movie", "abs.m4s")))
	// A symlinked directory component that leaves the content root.
	must(os.Symlink(filepath.Join("..", "secrets"), filepath.Join(root, "leak")))
	// Symlinks that stay inside the root are refused too: drmpipe writes
	// only directories and regular files.
	must(os.Symlink("manifest.mpd", filepath.Join(root, "movie", "alias.mpd")))
	must(os.Symlink("video_720p", filepath.Join(root, "movie", "video_link")))
	// A FIFO: opening it for reading blocks until a writer comes.
	must(syscall.Mkfifo(filepath.Join(root, "movie", "pipe.m4s"), 0o644))
	return root, secret
}

func TestOriginRefusesLinksAndSpecialFiles(t *testing.T) {
	root, secret := originTree(t)
	mux := http.NewServeMux()
	mux.Handle("GET /content/", New(root, "/content/"))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	// Should the handler block on the FIFO, a writer opened here (cleanups
	// run last first, so before ts.Close) releases it, so that the server
	// shuts down and the test reports the failure instead of hanging.
	t.Cleanup(func() {
		if f, err := os.OpenFile(filepath.Join(root, "movie", "pipe.m4s"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	cases := []struct {
		name, path string
		status     int
		body       []byte
	}{
		{"regular file", "/content/movie/manifest.mpd", 200, []byte("<MPD/>")},
		{"regular file in a directory", "/content/movie/video_720p/seg_1.m4s", 200, bytes.Repeat([]byte{9, 8, 7, 6}, 64)},
		{"symlink out of the root", "/content/movie/kek.mp4", 404, nil},
		{"absolute symlink", "/content/movie/abs.m4s", 404, nil},
		{"symlinked directory out of the root", "/content/leak/kek.key", 404, nil},
		{"symlink inside the root", "/content/movie/alias.mpd", 404, nil},
		{"symlinked directory inside the root", "/content/movie/video_link/seg_1.m4s", 404, nil},
		{"FIFO", "/content/movie/pipe.m4s", 404, nil},
		{"directory", "/content/movie/video_720p", 404, nil},
		{"the root itself", "/content/", 404, nil},
		{"NUL in the path", "/content/movie/a%00b.mpd", 404, nil},
		{"NUL in a directory name", "/content/mo%00vie/manifest.mpd", 404, nil},
		{"file as a directory", "/content/movie/manifest.mpd/x", 404, nil},
	}
	client := &http.Client{Timeout: 3 * time.Second}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				req, _ := http.NewRequestWithContext(ctx, method, ts.URL+tc.path, nil)
				resp, err := client.Do(req)
				if err != nil {
					cancel()
					t.Fatalf("%s %s: %v", method, tc.path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				cancel()
				if resp.StatusCode != tc.status {
					t.Errorf("%s %s: status %d, want %d (%s)", method, tc.path, resp.StatusCode, tc.status, body)
				}
				if bytes.Contains(body, secret) {
					t.Errorf("%s %s: body leaks the secret file", method, tc.path)
				}
				if method == http.MethodGet && tc.body != nil && !bytes.Equal(body, tc.body) {
					t.Errorf("%s %s: body %q", method, tc.path, body)
				}
				if tc.status == 404 && method == http.MethodGet && !strings.Contains(string(body), `"code":"not_found"`) {
					t.Errorf("%s %s: error body %s", method, tc.path, body)
				}
			}
		})
	}
}

// FuzzOriginPath requests arbitrary paths from the origin over the tree of
// originTree: the answer is never a server error, never the secret beside
// the content root, and a 200 only for the two regular files drmpipe wrote.
func FuzzOriginPath(f *testing.F) {
	for _, p := range []string{
		// More seeds are in testdata/fuzz/FuzzOriginPath.
		"/content/movie/manifest.mpd", "/content/movie/video_link/seg_1.m4s", "/content/movie/abs.m4s",
		"/content/../secrets/kek.key", "/content/movie/../../secrets/kek.key", "/content/movie//video_720p/./seg_1.m4s",
		"/content/", "/content/movie\\..\\..\\secrets\\kek.key",
	} {
		f.Add(p)
	}
	root, secret := originTree(f)
	h := New(root, "/content/")
	served := map[string]bool{"<MPD/>": true, string(bytes.Repeat([]byte{9, 8, 7, 6}, 64)): true}
	f.Fuzz(func(t *testing.T, p string) {
		r := httptest.NewRequest(http.MethodGet, "/content/", nil)
		r.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.Bytes()
		switch {
		case bytes.Contains(body, secret):
			t.Fatalf("%q: the secret leaked", p)
		case w.Code == http.StatusOK && !served[string(body)]:
			t.Fatalf("%q: 200 with %q", p, body)
		case w.Code != http.StatusOK && w.Code != http.StatusNotFound:
			t.Fatalf("%q: status %d %s", p, w.Code, body)
		}
	})
}
