package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/jobs"
)

// TestJobsPage: serve with the jobs API serves the jobs page (built into
// the binary) at /jobs/, its script and style, under a policy that allows
// no inline script and no framing; the page holds no job data itself, and
// the jobs it shows need a credential: GET /v1/jobs refuses no key (401)
// and a key without scope package (403), and lists the jobs for one.
func TestJobsPage(t *testing.T) {
	s := newJobsSetup(t)
	j, _, err := s.api.Submit(s.timeout, jobs.Request{Inputs: []string{s.clip}, Output: s.dir + "/out", ContentID: "page-listed"}, "")
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, bearer string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.a.url+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("/jobs/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="jobs.js"`) || !strings.Contains(body, `id="api-key"`) {
		t.Fatalf("GET /jobs/: %d %q", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("page CSP %q", csp)
	}
	if strings.Contains(body, "page-listed") {
		t.Error("the page shell carries job data")
	}
	for path, ctype := range map[string]string{"/jobs/jobs.js": "text/javascript", "/jobs/jobs.css": "text/css"} {
		if resp, body := get(path, ""); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: %d %s (%d bytes)", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if resp, _ := get("/jobs", ""); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/jobs/" {
		t.Errorf("GET /jobs: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/jobs/missing.js", ""); resp.StatusCode != 404 {
		t.Errorf("GET /jobs/missing.js: %d", resp.StatusCode)
	}

	// The data the page reads.
	if resp, _ := get(jobs.PathJobs, ""); resp.StatusCode != 401 {
		t.Errorf("GET /v1/jobs without a key: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(jobs.PathJobs, s.workKey); resp.StatusCode != 403 {
		t.Errorf("GET /v1/jobs with a worker key: %d, want 403", resp.StatusCode)
	}
	if resp, body := get(jobs.PathJobs, s.apiKey); resp.StatusCode != 200 || !strings.Contains(body, `"contentId":"page-listed"`) || !strings.Contains(body, `"state":"queued"`) {
		t.Errorf("GET /v1/jobs with a package key: %d %s (job %d)", resp.StatusCode, body, j.ID)
	}
}
