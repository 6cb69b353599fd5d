package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

// demoVendorFile is the map of the demo page's player libraries: the path
// after /web/vendor/ ("<package>/<file>") -> a file under web/node_modules,
// installed by npm at the versions web/package-lock.json pins.
const demoVendorFile = "vendor.json"

// errVendorMap is the cause logged when web/vendor.json is unusable.
var errVendorMap = errors.New("demo: web/vendor.json")

// demoVendorPath resolves "<pkg>/<file>" through webDir/vendor.json to a
// file under webDir/node_modules. The map is read on each request (it is a
// few lines, and the demo then follows an edited map without a restart).
// Only names listed in the map are served; their targets must stay inside
// node_modules.
func demoVendorPath(webDir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(webDir, demoVendorFile))
	if err != nil {
		return "", httperr.Wrap(fmt.Errorf("%w: %w", errVendorMap, err), http.StatusNotFound, httperr.CodeNotFound, "player libraries are not installed")
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return "", httperr.Wrap(fmt.Errorf("%w: %w", errVendorMap, err), http.StatusInternalServerError, httperr.CodeInternal, "internal error")
	}
	rel, ok := m[name]
	if !ok {
		return "", httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such player library")
	}
	rel = filepath.FromSlash(rel)
	if !filepath.IsLocal(rel) {
		return "", httperr.Wrap(fmt.Errorf("%w: %q leaves node_modules", errVendorMap, name), http.StatusNotFound, httperr.CodeNotFound, "no such player library")
	}
	file := filepath.Join(webDir, "node_modules", rel)
	if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
		return "", httperr.New(http.StatusNotFound, httperr.CodeNotFound, "player library not installed (run 'cd web && npm ci')")
	}
	return file, nil
}

// demoRoutes serve the demo player page (webDir/player) and its libraries
// (/web/vendor/<pkg>/<file>, mapped by webDir/vendor.json to npm's
// webDir/node_modules), and redirect / to the page. Mounted in demo mode
// only (NewApp).
func demoRoutes(webDir string) []Route {
	files := http.StripPrefix("/web/player/", http.FileServer(http.Dir(filepath.Join(webDir, "player"))))
	player := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page is edited while developing; always revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("pkg") + "/" + r.PathValue("file")
		file, err := demoVendorPath(webDir, name)
		if err != nil {
			httperr.Write(w, r, nil, err)
			return
		}
		switch strings.ToLower(path.Ext(name)) {
		case ".js", ".mjs":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		case ".map", ".json":
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFile(w, r, file)
	})
	return []Route{
		{"GET /web/player/", player},
		{"GET /web/vendor/{pkg}/{file}", vendor},
		{"GET /{$}", http.RedirectHandler("/web/player/", http.StatusFound)},
	}
}
