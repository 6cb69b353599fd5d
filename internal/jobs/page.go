package jobs

import (
	"io/fs"
	"net/http"
)

// PathPage is where drmpipe serve serves the jobs page (web/jobs): a list
// of the jobs with state, attempts, progress and errors, refreshed every
// few seconds, read from this API with an API key of scope package that
// the user pastes into it.
const PathPage = "/jobs/"

// pageCSP keeps the page to its own files and this origin's API: no inline
// script, no framing (clickjacking), no form posts elsewhere.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// PageRoutes serve the jobs page from page (index.html, jobs.js,
// jobs.css at its root). The page is a shell that holds no data: every
// job it shows comes from GET /v1/jobs with the pasted key as a bearer
// token, so the page itself needs no credential. A browser cannot send a
// bearer token on navigation, and HTTP Basic credentials, which it can,
// would be sent by it again on any cross-site form post to this origin.
func PageRoutes(page fs.FS) []Route {
	files := http.StripPrefix(PathPage, http.FileServerFS(page))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return []Route{
		{"GET " + PathPage, h},
		{"GET /jobs", http.RedirectHandler(PathPage, http.StatusFound)},
	}
}
