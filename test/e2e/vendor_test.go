package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

// Vendor credentials of the doubles: secrets that must never be logged.
const (
	widevineVendorKey = "wv-credential-5b1e8c0d94a7"
	fairplayAccount   = "fp-account-secret-77c2"
)

// vendorSetup starts generic (pass-through) doubles for Widevine and
// FairPlay and returns the license.upstreams configuration pointing at
// them: breaker thresholds 3 (Widevine) and 2 (FairPlay), no retries.
func vendorSetup(t *testing.T) (wv, fp *vendortest.Server, upstreams map[string]any) {
	t.Helper()
	wv = vendortest.New(vendortest.Generic, vendortest.Options{Headers: map[string]string{"X-Vendor-Key": widevineVendorKey}})
	fp = vendortest.New(vendortest.Generic, vendortest.Options{Query: map[string]string{"account": fairplayAccount}})
	t.Cleanup(wv.Close)
	t.Cleanup(fp.Close)
	// The FairPlay application certificate served at GET
	// /license/fairplay/certificate (any bytes for the gateway).
	cert := filepath.Join(t.TempDir(), "fairplay.cer")
	if err := os.WriteFile(cert, challenge(t), 0o600); err != nil {
		t.Fatal(err)
	}
	upstreams = map[string]any{
		"widevine": map[string]any{
			"type": "passthrough", "url": wv.URL() + "/widevine/license", "timeout": "2s",
			"breaker":     map[string]any{"failure_threshold": 3, "open_for": "30s"},
			"credentials": map[string]any{"headers": map[string]string{"X-Vendor-Key": widevineVendorKey}},
		},
		"fairplay": map[string]any{
			"type": "passthrough", "url": fp.URL() + "/fps/license", "timeout": "2s", "certificate_file": cert,
			"breaker":     map[string]any{"failure_threshold": 2, "open_for": "30s"},
			"credentials": map[string]any{"query": map[string]string{"account": fairplayAccount}},
		},
	}
	return wv, fp, upstreams
}

func challenge(t *testing.T) []byte {
	b := make([]byte, 96)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// vendorLicense posts a challenge to /license/{system}.
func (r *replica) vendorLicense(t *testing.T, system, token string, body []byte, contentType string, headers ...string) response {
	t.Helper()
	h := append([]string{"Authorization", "Bearer " + token, "Content-Type", contentType, "Origin", playerOrigin}, headers...)
	return do(t, http.MethodPost, r.url+"/license/"+system, body, h...)
}

// TestVendorGateway is issue 4's gateway through `drmpipe serve`: a valid
// token's challenge is forwarded (with the configured credentials) and the
// vendor's answer returned unchanged; a duplicate request costs one
// upstream call; a failing or stopped vendor opens the breaker, after which
// drmpipe answers 503 with retryAfter at once and the vendor gets no calls.
func TestVendorGateway(t *testing.T) {
	t.Parallel()
	wv, fp, ups := vendorSetup(t)
	// PlayReady's vendor fails from the start (no success in the breaker's
	// window).
	pr := vendortest.New(vendortest.Generic, vendortest.Options{})
	t.Cleanup(pr.Close)
	pr.Fail(http.StatusServiceUnavailable)
	ups["playready"] = map[string]any{"type": "passthrough", "url": pr.URL() + "/pr", "timeout": "2s",
		"breaker": map[string]any{"failure_threshold": 3, "open_for": "30s"}}
	d := newDeployment(t, setup{Upstreams: ups})
	d.secrets.addString("vendor credential", widevineVendorKey)
	d.secrets.addString("vendor credential", fairplayAccount)
	r := d.start(t)
	n := 0
	tokenFor := func() string {
		n++
		return r.token(t, entitlement.Claims{Subject: fmt.Sprintf("viewer-%d", n), ContentID: "vendor-content"})
	}

	t.Run("widevine_forwarded_unchanged", func(t *testing.T) {
		ch := challenge(t)
		tok := tokenFor()
		resp := r.vendorLicense(t, "widevine", tok, ch, "application/octet-stream")
		if resp.status != http.StatusOK {
			t.Fatalf("widevine license: %d %s", resp.status, resp.body)
		}
		if !bytes.Equal(resp.body, vendortest.License(ch)) {
			t.Errorf("answer differs from the vendor's license")
		}
		last := wv.Last()
		if !bytes.Equal(last.Challenge, ch) {
			t.Error("the vendor did not receive the challenge unchanged")
		}
		if last.Header.Get("Authorization") != "" {
			t.Error("the playback token was forwarded to the vendor")
		}
		if resp.header.Get("Access-Control-Allow-Origin") != playerOrigin {
			t.Errorf("vendor license without CORS Allow-Origin")
		}

		// The same request again (a player retry): answered from the
		// cache, one upstream call in total.
		calls := wv.Calls()
		again := r.vendorLicense(t, "widevine", tok, ch, "application/octet-stream")
		if again.status != http.StatusOK || !bytes.Equal(again.body, resp.body) {
			t.Fatalf("duplicate request: %d, same body %v", again.status, bytes.Equal(again.body, resp.body))
		}
		if got := wv.Calls(); got != calls {
			t.Errorf("duplicate request cost %d more upstream calls, want 0", got-calls)
		}
		if again.header.Get("X-Drmpipe-Cache") != "hit" {
			t.Errorf("duplicate answer X-Drmpipe-Cache %q, want hit", again.header.Get("X-Drmpipe-Cache"))
		}
	})

	t.Run("fairplay_forwarded_unchanged", func(t *testing.T) {
		spc := challenge(t)
		form := url.Values{"spc": {base64.StdEncoding.EncodeToString(spc)}}.Encode()
		resp := r.vendorLicense(t, "fairplay", tokenFor(), []byte(form), "application/x-www-form-urlencoded")
		if resp.status != http.StatusOK {
			t.Fatalf("fairplay license: %d %s", resp.status, resp.body)
		}
		if !bytes.Equal(resp.body, vendortest.License(spc)) {
			t.Errorf("fairplay answer differs from the vendor's CKC")
		}
		if got := fp.Last().Query.Get("account"); got != fairplayAccount {
			t.Errorf("fairplay upstream did not get the configured query credential")
		}
	})

	t.Run("playready_breaker_opens", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			resp := r.vendorLicense(t, "playready", tokenFor(), soapChallenge(t), "text/xml", "SOAPAction", `"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense"`)
			if resp.status < 500 {
				t.Fatalf("failing vendor, request %d: status %d", i+1, resp.status)
			}
			if bytes.Contains(resp.body, []byte("7f3a")) {
				t.Error("the vendor's error body leaked to the player")
			}
		}
		if got := pr.Calls(); got != 3 {
			t.Errorf("%d upstream calls for 3 failing requests (retries 0), want 3", got)
		}
		for i := 0; i < 3; i++ {
			resp := r.vendorLicense(t, "playready", tokenFor(), soapChallenge(t), "text/xml")
			if resp.status != http.StatusServiceUnavailable {
				t.Fatalf("open breaker: status %d, want 503 (%s)", resp.status, resp.body)
			}
			if e := resp.errBody(t); e.RetryAfter < 1 || e.Code != "upstream_unavailable" {
				t.Errorf("open breaker: code %q retryAfter %d, want upstream_unavailable and retryAfter >= 1", e.Code, e.RetryAfter)
			}
		}
		if got := pr.Calls(); got != 3 {
			t.Errorf("the vendor got %d calls while the breaker was open", got-3)
		}
	})

	// license.upstreams.<drm>.breaker.failure_threshold is documented as
	// "consecutive failures that open the circuit breaker": a vendor that
	// served licenses a moment ago and now fails must trip it after that
	// many failures, not only once its successes leave the breaker window.
	t.Run("widevine_breaker_opens_after_consecutive_failures", func(t *testing.T) {
		wv.Fail(http.StatusInternalServerError)
		before := wv.Calls()
		// Threshold 3: three failures reach the vendor...
		for i := 0; i < 3; i++ {
			resp := r.vendorLicense(t, "widevine", tokenFor(), challenge(t), "application/octet-stream")
			if resp.status < 500 {
				t.Fatalf("failing vendor, request %d: status %d", i+1, resp.status)
			}
			if bytes.Contains(resp.body, []byte("7f3a")) {
				t.Error("the vendor's error body leaked to the player")
			}
			resp.errBody(t)
		}
		if got := wv.Calls() - before; got != 3 {
			t.Errorf("%d upstream calls for 3 failing requests (retries 0), want 3", got)
		}
		// ...then the breaker answers at once.
		opened := wv.Calls()
		for i := 0; i < 3; i++ {
			resp := r.vendorLicense(t, "widevine", tokenFor(), challenge(t), "application/octet-stream")
			if resp.status != http.StatusServiceUnavailable {
				t.Fatalf("open breaker: status %d, want 503 (%s)", resp.status, resp.body)
			}
			e := resp.errBody(t)
			if e.RetryAfter < 1 || e.Code != "upstream_unavailable" {
				t.Errorf("open breaker: code %q retryAfter %d, want upstream_unavailable and retryAfter >= 1", e.Code, e.RetryAfter)
			}
		}
		if got := wv.Calls() - opened; got != 0 {
			t.Errorf("the vendor got %d calls while the breaker was open", got)
		}
		// FairPlay has its own breaker: unaffected.
		spc := challenge(t)
		form := url.Values{"spc": {base64.StdEncoding.EncodeToString(spc)}}.Encode()
		if resp := r.vendorLicense(t, "fairplay", tokenFor(), []byte(form), "application/x-www-form-urlencoded"); resp.status != http.StatusOK {
			t.Errorf("fairplay while widevine's breaker is open: %d", resp.status)
		}
	})

	// The same for a vendor that stops answering (connection refused).
	t.Run("fairplay_vendor_stopped", func(t *testing.T) {
		fp.Close()
		post := func() response {
			spc := challenge(t)
			form := url.Values{"spc": {base64.StdEncoding.EncodeToString(spc)}}.Encode()
			return r.vendorLicense(t, "fairplay", tokenFor(), []byte(form), "application/x-www-form-urlencoded")
		}
		for i := 0; i < 2; i++ {
			if resp := post(); resp.status < 500 {
				t.Fatalf("stopped vendor, request %d: status %d", i+1, resp.status)
			}
		}
		resp := post()
		if resp.status != http.StatusServiceUnavailable {
			t.Fatalf("stopped vendor after the threshold: status %d, want 503 (%s)", resp.status, resp.body)
		}
		if e := resp.errBody(t); e.RetryAfter < 1 {
			t.Errorf("open breaker without retryAfter: %+v", e)
		}
	})
}

// soapChallenge is a minimal PlayReady SOAP AcquireLicense envelope with a
// random payload (the gateway forwards it opaquely).
func soapChallenge(t *testing.T) []byte {
	return []byte(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><AcquireLicense xmlns="http://schemas.microsoft.com/DRM/2007/03/protocols"><challenge>` +
		base64.StdEncoding.EncodeToString(challenge(t)) + `</challenge></AcquireLicense></soap:Body></soap:Envelope>`)
}
