package upstream_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

// The gateway of each vendor DRM: Widevine (raw CDM message), PlayReady
// (SOAP challenge and SOAPAction), FairPlay (SPC bodies and certificate).

// widevineOnly grants Widevine requests without KIDs.
type widevineOnly struct{}

func (widevineOnly) Authorize(_ context.Context, req entitlement.Request) (entitlement.Decision, error) {
	if req.System != drm.Widevine || len(req.KIDs) != 0 {
		return entitlement.Decision{}, &entitlement.DenyError{Reason: entitlement.ReasonNotEntitled, Message: "unexpected request"}
	}
	return entitlement.Decision{Subject: "u", ContentID: "movie", JTI: "j", TokenExpiry: time.Now().Add(time.Minute),
		Policy: entitlement.Policy{LicenseDuration: time.Hour, SecurityLevel: 1}}, nil
}

func TestWidevineDirectThroughHandler(t *testing.T) {
	d := vendortest.New(vendortest.WidevineDirect, vendortest.Options{WidevineProvider: "acme", WidevineSigningKey: wvKey, WidevineSigningIV: wvIV})
	defer d.Close()
	cfg := upstream.GatewayConfig{Upstream: upstream.Config{
		Type: upstream.WidevineDirect, URL: d.URL(), Timeout: time.Second,
		Credentials: upstream.Credentials{Provider: "acme", Key: wvKey, IV: wvIV},
		Breaker:     upstream.BreakerConfig{FailureRatio: 0.5, MinRequests: 2, OpenFor: 30 * time.Second},
	}}
	h, client, err := upstream.NewGateway(drm.Widevine, cfg, upstream.GatewayDeps{Deps: license.Deps{Authorizer: widevineOnly{}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/license/widevine", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer t")
		r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := send("\x08\x04")
	// The proxy API wraps the license in JSON; the CDM gets the bytes.
	if w.Code != 200 || w.Body.String() != string(vendortest.License([]byte("\x08\x04"))) {
		t.Fatalf("%d %q (double: %v)", w.Code, w.Body, d.Rejection())
	}
	if d.Last().Header.Get("Traceparent") == "" {
		t.Error("traceparent dropped")
	}
	// Breaker: two 500s open it; then 503 + retryAfter without a call.
	d.Fail(http.StatusInternalServerError)
	send("a")
	send("b")
	calls := d.Calls()
	w = send("c")
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != 503 || b.Code != httperr.CodeUpstreamUnavailable || b.RetryAfter < 29 || b.RetryAfter > 30 || d.Calls() != calls {
		t.Errorf("open breaker: %d %+v calls %d->%d", w.Code, b, calls, d.Calls())
	}
	if p, _ := client.BreakerState(); p != "open" {
		t.Errorf("state %s", p)
	}
}

const soapAction = `"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense"`

func TestForwardsSOAP(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{Headers: map[string]string{"SOAPAction": soapAction}})
	defer d.Close()
	h, _, err := upstream.NewGateway(drm.PlayReady, upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL()}}, upstream.GatewayDeps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/license/playready", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
		r.Header.Set("SOAPAction", soapAction)
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	challenge := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope><soap:Body><AcquireLicense/></soap:Body></soap:Envelope>`
	if w := send(challenge); w.Code != 200 || w.Body.String() != string(vendortest.License([]byte(challenge))) {
		t.Fatalf("%d %s (double: %v)", w.Code, w.Body, d.Rejection())
	}
	if !strings.HasPrefix(d.Last().ContentType, "text/xml") {
		t.Errorf("content type %q", d.Last().ContentType)
	}
	if w := send("\x00\x01binary"); w.Code != 400 {
		t.Errorf("non-XML challenge: %d", w.Code)
	}
}

func TestSPCBodiesAndCertificate(t *testing.T) {
	cert := []byte{0x30, 0x82, 0x01, 0x02, 0xde, 0xad}
	d := vendortest.New(vendortest.EZDRM, vendortest.Options{EZDRMProfile: "42", Certificate: cert})
	defer d.Close()
	h, _, err := upstream.NewGateway(drm.FairPlay, upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.EZDRM, URL: d.URL() + "/fps", CertificateURL: d.URL() + "/cert", Credentials: upstream.Credentials{Provider: "42"}}},
		upstream.GatewayDeps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	spc := []byte{0, 1, 2, 250, 251, 252, '+', '/'}
	b64 := base64.StdEncoding.EncodeToString(spc)
	bodies := []struct{ ct, body string }{
		{"application/octet-stream", string(spc)},
		{"application/x-www-form-urlencoded", url.Values{"spc": {b64}, "assetId": {"x"}}.Encode()},
		{"application/x-www-form-urlencoded", "spc=" + b64}, // '+' not escaped by some players
		{"application/json", `{"spc":"` + b64 + `"}`},
	}
	for _, b := range bodies {
		r := httptest.NewRequest(http.MethodPost, "/license/fairplay", strings.NewReader(b.body))
		r.Header.Set("Content-Type", b.ct)
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), vendortest.License(spc)) || !bytes.Equal(d.Last().Challenge, spc) {
			t.Errorf("%s %q: %d %s (double: %v)", b.ct, b.body, w.Code, w.Body, d.Rejection())
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/license/fairplay", strings.NewReader(`{"nope":1}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 400 {
		t.Errorf("JSON without spc: %d", w.Code)
	}

	calls := d.Calls()
	for i := 0; i < 2; i++ {
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/license/fairplay/certificate", nil))
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), cert) {
			t.Fatalf("certificate: %d", w.Code)
		}
	}
	if d.Calls() != calls+1 {
		t.Errorf("certificate fetched %d times, want once", d.Calls()-calls)
	}

	// From a file, no upstream certificate URL needed.
	f := filepath.Join(t.TempDir(), "fps.der")
	_ = os.WriteFile(f, cert, 0o600)
	h2, _, err := upstream.NewGateway(drm.FairPlay, upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL(), CertificateFile: f}}, upstream.GatewayDeps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	h2.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/license/fairplay/certificate", nil))
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), cert) {
		t.Errorf("file certificate: %d", w.Code)
	}
	if _, _, err := upstream.NewGateway(drm.FairPlay, upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL()}}, upstream.GatewayDeps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}}); err == nil {
		t.Error("no certificate source accepted")
	}
}
