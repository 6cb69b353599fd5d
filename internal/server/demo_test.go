package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

// TestDemoRoutes serves a fake web dir: vendor files by the vendor.json map
// only, the player page, and the root redirect.
func TestDemoRoutes(t *testing.T) {
	web := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(web, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vendor.json", `{"shaka-player/shaka-player.compiled.js": "shaka-player/dist/shaka-player.compiled.js",
		"evil/x.js": "../player/index.html", "gone/y.js": "gone/dist/y.js"}`)
	write("node_modules/shaka-player/dist/shaka-player.compiled.js", "var shaka = 1;")
	write("node_modules/shaka-player/package.json", `{"name":"shaka-player"}`)
	write("player/index.html", "<title>demo</title>")

	mux := http.NewServeMux()
	for _, r := range demoRoutes(web) {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	cases := []struct {
		path, wantType, wantBody, wantCode string
		status                             int
	}{
		{"/web/vendor/shaka-player/shaka-player.compiled.js", "text/javascript; charset=utf-8", "var shaka = 1;", "", 200},
		// Not in the map, though the file exists.
		{"/web/vendor/shaka-player/package.json", "application/json", "", string(httperr.CodeNotFound), 404},
		// Listed, but its target leaves node_modules.
		{"/web/vendor/evil/x.js", "application/json", "", string(httperr.CodeNotFound), 404},
		// Listed, not installed.
		{"/web/vendor/gone/y.js", "application/json", "", string(httperr.CodeNotFound), 404},
		{"/web/vendor/shaka-player.compiled.js", "", "", "", 404},
		{"/web/player/", "text/html; charset=utf-8", "<title>demo</title>", "", 200},
		{"/", "", "", "", 302},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res, err := client.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, body)
			}
			if c.wantType != "" && res.Header.Get("Content-Type") != c.wantType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), c.wantType)
			}
			if c.wantBody != "" && string(body) != c.wantBody {
				t.Errorf("body %q, want %q", body, c.wantBody)
			}
			if c.wantCode != "" {
				var b httperr.Body
				if err := json.Unmarshal(body, &b); err != nil || string(b.Code) != c.wantCode {
					t.Errorf("error body %s, want code %s", body, c.wantCode)
				}
				if strings.Contains(string(body), web) {
					t.Errorf("error body leaks a local path: %s", body)
				}
			}
			if c.status == 302 && res.Header.Get("Location") != "/web/player/" {
				t.Errorf("Location %q", res.Header.Get("Location"))
			}
		})
	}
}
