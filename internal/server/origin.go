package server

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

// mediaTypes are the MIME types of packaged output (RFC 8216 §4, ISO/IEC
// 23009-1 Annex C, RFC 4337).
var mediaTypes = map[string]string{
	".mpd":  "application/dash+xml",
	".m3u8": "application/vnd.apple.mpegurl",
	".mp4":  "video/mp4",
	".m4s":  "video/iso.segment",
	".m4a":  "audio/mp4",
	".m4v":  "video/mp4",
	".vtt":  "text/vtt",
}

// originHandler serves the packaged outputs under root as an origin:
// correct media types, byte ranges (http.ServeContent), short caching for
// manifests and immutable caching for segments. Hidden files (staging
// directories, the output marker) are never served.
type originHandler struct {
	root   string
	prefix string
	onFile func(r *http.Request, name string) // observability hook; may be nil
}

func (h *originHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httperr.Write(w, r, nil, httperr.New(http.StatusMethodNotAllowed, httperr.CodeMethodNotAllowed, "use GET or HEAD"))
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, h.prefix)
	clean := path.Clean("/" + rel)
	for _, part := range strings.Split(clean, "/") {
		if strings.HasPrefix(part, ".") {
			httperr.Write(w, r, nil, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "not found"))
			return
		}
	}
	name := filepath.Join(h.root, filepath.FromSlash(clean))
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			httperr.Write(w, r, nil, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "not found"))
			return
		}
		httperr.Write(w, r, nil, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		httperr.Write(w, r, nil, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "not found"))
		return
	}
	ext := strings.ToLower(filepath.Ext(name))
	ct, ok := mediaTypes[ext]
	if !ok {
		ct = mime.TypeByExtension(ext)
	}
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	switch ext {
	case ".mpd", ".m3u8":
		// Manifests may be replaced by a re-run: revalidate quickly.
		w.Header().Set("Cache-Control", "public, max-age=2, must-revalidate")
	default:
		// Segment and init file names never change content within one
		// packaging output.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges")
	if h.onFile != nil {
		h.onFile(r, clean)
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
