package server

import (
	"net/http"
	"os"
	"path/filepath"
)

// demoVendor maps /web/vendor/<name> to the player builds installed by npm
// in web/node_modules (package.json pins their versions).
var demoVendor = map[string]string{
	"shaka-player.compiled.js": "shaka-player/dist/shaka-player.compiled.js",
	"dash.all.min.js":          "dashjs/dist/modern/umd/dash.all.min.js",
	"hls.min.js":               "hls.js/dist/hls.min.js",
}

// demoRoutes serve the demo player page (web/player) and its libraries.
func demoRoutes(webDir string) []Route {
	player := http.StripPrefix("/web/player/", http.FileServer(http.Dir(filepath.Join(webDir, "player"))))
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, ok := demoVendor[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		name := filepath.Join(webDir, "node_modules", filepath.FromSlash(rel))
		if _, err := os.Stat(name); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFile(w, r, name)
	})
	return []Route{
		{"GET /web/player/", player},
		{"GET /web/vendor/{file}", vendor},
		{"GET /{$}", http.RedirectHandler("/web/player/", http.StatusFound)},
	}
}
