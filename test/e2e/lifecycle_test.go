package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func (r *replica) status(t *testing.T, path string) int {
	t.Helper()
	return do(t, http.MethodGet, r.url+path, nil).status
}

// readyThenDown is how each readiness test begins: d starts with its
// dependency dep up, /readyz answers 200 and the holder of a token for
// contentID gets a ClearKey license; then stop takes dep down, /readyz
// turns 503 within five seconds and /healthz stays 200 (the process is
// alive). It returns the replica, the key and a request for that license.
func readyThenDown(t *testing.T, d *deployment, dep, subject, contentID string, tt keys.TrackType, stop func()) (*replica, keys.ContentKey, func() response) {
	t.Helper()
	r := d.start(t)
	k := r.key(t, contentID, tt)
	license := func() response {
		return r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: subject, ContentID: contentID}), k.KID)
	}
	if s := r.status(t, "/readyz"); s != http.StatusOK {
		t.Fatalf("/readyz with %s up: %d", dep, s)
	}
	checkLicense(t, license(), k)

	stop()
	start := time.Now()
	if !eventually(5*time.Second, 100*time.Millisecond, func() bool { return r.status(t, "/readyz") == http.StatusServiceUnavailable }) {
		t.Fatalf("/readyz still 200 five seconds after %s stopped", dep)
	}
	t.Logf("/readyz flipped to 503 %v after %s stopped", time.Since(start).Round(time.Millisecond), dep)
	if s := r.status(t, "/healthz"); s != http.StatusOK {
		t.Errorf("/healthz with %s down: %d, want 200 (the process is alive)", dep, s)
	}
	return r, k, license
}

// TestReadinessRedis: /readyz answers 503 within seconds of Redis going
// away while /healthz stays 200, and ClearKey licenses are still issued
// (issue 4: "Redis down means no cache, not an outage").
func TestReadinessRedis(t *testing.T) {
	t.Parallel()
	rd := testtools.StartRedis(t)
	d := newDeployment(t, setup{Redis: rd.Addr})
	r, k, license := readyThenDown(t, d, "Redis", "rita", "ready", keys.SD, rd.Stop)
	ready := do(t, http.MethodGet, r.url+"/readyz", nil)
	if !bytes.Contains(ready.body, []byte(`"redis"`)) {
		t.Errorf("/readyz body does not name the failing redis check: %s", ready.body)
	}
	lic := license()
	if lic.status != http.StatusOK {
		t.Errorf("ClearKey license with Redis down: %d %s (want 200: no cache, not an outage)", lic.status, lic.body)
	} else {
		checkLicense(t, lic, k)
	}
}

// TestReadinessPostgres: with the key store on PostgreSQL, /readyz answers
// 503 when PostgreSQL stops and 200 again once it is back.
func TestReadinessPostgres(t *testing.T) {
	t.Parallel()
	pg := testtools.StartPostgres(t)
	d := newDeployment(t, setup{StoreDSN: pg.DSN})
	r, k, license := readyThenDown(t, d, "PostgreSQL", "paul", "pg-ready", keys.HD, pg.Stop)
	// The server remembers key lookups for one second (burst relief on the
	// license path); past that the store is asked and its outage shows.
	time.Sleep(1200 * time.Millisecond)
	lic := license()
	if lic.status != http.StatusServiceUnavailable {
		t.Errorf("ClearKey license with the key store down: %d, want 503", lic.status)
	} else if e := lic.errBody(t); e.RetryAfter < 1 {
		t.Errorf("store down: no retryAfter in %+v", e)
	}

	pg.Start(t)
	if !eventually(10*time.Second, 200*time.Millisecond, func() bool { return r.status(t, "/readyz") == http.StatusOK }) {
		t.Fatal("/readyz not 200 within 10s of PostgreSQL coming back")
	}
	checkLicense(t, license(), k)
}

// TestGracefulShutdown: cancelling Run (SIGTERM in `drmpipe serve`) while
// ten license requests are in flight lets all of them finish with 200, and
// Run returns without error; afterwards new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	vendor := vendortest.New(vendortest.Generic, vendortest.Options{})
	t.Cleanup(vendor.Close)
	d := newDeployment(t, setup{Upstreams: map[string]any{
		"widevine": map[string]any{"type": "passthrough", "url": vendor.URL() + "/wv", "timeout": "5s"},
	}})
	r := d.start(t)
	const inFlight = 10
	// The vendor holds every request long enough to cancel Run under them.
	vendor.Stall(700 * time.Millisecond)
	tokens := make([]string, inFlight)
	for i := range tokens {
		tokens[i] = r.token(t, entitlement.Claims{Subject: fmt.Sprintf("sd-%d", i), ContentID: "shutdown"})
	}
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make(chan result, inFlight)
	var wg sync.WaitGroup
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := []byte(fmt.Sprintf("challenge-%d", i))
			req, _ := http.NewRequest(http.MethodPost, r.url+"/license/widevine", bytes.NewReader(ch))
			req.Header.Set("Authorization", "Bearer "+tokens[i])
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := httpClient.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, err = b.ReadFrom(resp.Body)
			if err == nil && !bytes.Equal(b.Bytes(), vendortest.License(ch)) {
				err = errors.New("answer is not the vendor's license")
			}
			results <- result{status: resp.StatusCode, body: b.Bytes(), err: err}
		}()
	}
	if !eventually(5*time.Second, 5*time.Millisecond, func() bool { return vendor.Calls() == inFlight }) {
		t.Fatalf("only %d of %d requests reached the vendor", vendor.Calls(), inFlight)
	}
	start := time.Now()
	r.cancel() // what SIGTERM does to `drmpipe serve`
	if err := r.stop(); err != nil {
		t.Fatalf("Run returned %v during a graceful shutdown", err)
	}
	wg.Wait()
	close(results)
	ok := 0
	for res := range results {
		switch {
		case res.err != nil:
			t.Errorf("in-flight request failed: %v", res.err)
		case res.status != http.StatusOK:
			t.Errorf("in-flight request: status %d %s", res.status, res.body)
		default:
			ok++
		}
	}
	if ok != inFlight {
		t.Errorf("%d of %d in-flight requests completed with 200", ok, inFlight)
	}
	t.Logf("shutdown drained %d requests in %v", ok, time.Since(start).Round(time.Millisecond))
	// After Run returned the listener is closed.
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(r.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("server still answers after shutdown: %d", resp.StatusCode)
	} else if !strings.Contains(err.Error(), "refused") {
		t.Logf("request after shutdown: %v", err)
	}
}
