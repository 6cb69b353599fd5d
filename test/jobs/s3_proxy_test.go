package jobs

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// s3Proxy stands between the workers and versitygw on loopback, as a
// network between them would: it adds latency to every media upload (a
// PUT of anything but a manifest), so that a manifest uploaded before its
// segments have landed stays visible long enough for a poller to see it,
// and it can hold every request (Hold, Release) while the tests' own
// client, which talks to versitygw directly, goes on listing. SigV4 signs
// the Host header the worker sent, the proxy's, which it passes on.
type s3Proxy struct {
	URL string

	mu      sync.Mutex
	release chan struct{} // closed when not held
}

func newS3Proxy(t *testing.T, target string, mediaPutDelay time.Duration) *s3Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{release: make(chan struct{})}
	close(p.release)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		release := p.release
		p.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		if r.Method == http.MethodPut && !strings.HasSuffix(r.URL.Path, ".mpd") && !strings.HasSuffix(r.URL.Path, ".m3u8") {
			time.Sleep(mediaPutDelay)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { p.Release(); srv.Close() })
	p.URL = srv.URL
	return p
}

// Hold makes requests wait until Release.
func (p *s3Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
		p.release = make(chan struct{})
	default:
	}
}

// Release lets held and later requests through.
func (p *s3Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}
