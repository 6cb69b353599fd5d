// Package origin serves packaged outputs over HTTP as a CDN origin: media
// types, byte ranges and caching headers, and only regular files reached
// through real directories beneath the content root.
package origin

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

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

// Handler serves the packaged outputs under root as an origin:
// correct media types, byte ranges (http.ServeContent), short caching for
// manifests and immutable caching for segments. Hidden files (staging
// directories, the output marker) are never served, and only regular files
// reached through real directories beneath root are: see
// openRegularBeneath.
type Handler struct {
	root   string
	prefix string
	onFile func(r *http.Request, name string) // observability hook; may be nil
}

// New serves the tree under root at the URL path prefix ("/content/").
func New(root, prefix string) *Handler { return &Handler{root: root, prefix: prefix} }

// ServeHTTP answers GET and HEAD.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	f, fi, err := openRegularBeneath(h.root, strings.TrimPrefix(clean, "/"))
	if err != nil {
		if isNameError(err) {
			httperr.Write(w, r, nil, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "not found"))
			return
		}
		httperr.Write(w, r, nil, err)
		return
	}
	defer f.Close()
	ext := strings.ToLower(filepath.Ext(fi.Name()))
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

// errNotServed reports a path the origin refuses to serve: a symbolic link,
// a FIFO, socket or device, or a directory where a file is asked for.
var errNotServed = errors.New("not a regular file beneath the content root")

// openRegularBeneath opens name (slash-separated, clean, relative to dir)
// for reading if every component before the last is a directory and the
// last is a regular file, none of them a symbolic link, all beneath dir.
//
// drmpipe writes only directories and regular files into the content
// directory, so a symbolic link there was put by someone else: it is
// refused even when it points inside the root, which keeps the rule simple
// ("what is served is what drmpipe wrote"). Only dir itself may be a link
// (an operator's choice of where content lives).
//
// Each step is checked on the entry (Lstat) and again on what was opened
// (os.SameFile), inside an os.Root for the directory opened so far: an
// entry swapped for a link or a FIFO between the check and the open is
// refused rather than followed, and nothing outside dir is ever reached.
// The file is opened with O_NONBLOCK so that even a FIFO swapped in at the
// last moment cannot block the handler; regular-file reads ignore it.
func openRegularBeneath(dir, name string) (*os.File, fs.FileInfo, error) {
	switch {
	case name == "":
		return nil, nil, fmt.Errorf("%w: the content root is a directory", errNotServed)
	case strings.IndexByte(name, 0) >= 0:
		return nil, nil, fmt.Errorf("%w: NUL in the name", errNotServed)
	}
	cur, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	parts := strings.Split(name, "/")
	for _, part := range parts[:len(parts)-1] {
		next, err := openDirBeneath(cur, part)
		cur.Close()
		if err != nil {
			return nil, nil, err
		}
		cur = next
	}
	defer cur.Close()
	last := parts[len(parts)-1]
	want, err := cur.Lstat(last)
	if err != nil {
		return nil, nil, err
	}
	if !want.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w: %s is %v", errNotServed, name, want.Mode().Type())
	}
	f, err := cur.OpenFile(last, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	got, err := f.Stat()
	if err == nil && (!got.Mode().IsRegular() || !os.SameFile(want, got)) {
		err = fmt.Errorf("%w: %s changed while being opened", errNotServed, name)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, got, nil
}

// openDirBeneath opens the directory entry part of parent as a new root,
// refusing anything that is not a real directory (see openRegularBeneath).
func openDirBeneath(parent *os.Root, part string) (*os.Root, error) {
	want, err := parent.Lstat(part)
	if err != nil {
		return nil, err
	}
	if !want.IsDir() {
		return nil, fmt.Errorf("%w: %s is %v", errNotServed, part, want.Mode().Type())
	}
	sub, err := parent.OpenRoot(part)
	if err != nil {
		return nil, err
	}
	got, err := sub.Stat(".")
	if err == nil && !os.SameFile(want, got) {
		err = fmt.Errorf("%w: %s changed while being opened", errNotServed, part)
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// isNameError tells whether err is about the requested name (no such file,
// not served, not permitted, a file used as a directory, a name the system
// refuses) rather than a fault of the server: those are a 404.
func isNameError(err error) bool {
	return errors.Is(err, errNotServed) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENAMETOOLONG) ||
		errors.Is(err, syscall.EINVAL)
}
