package fairplay

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

func TestSPCBodiesAndCertificate(t *testing.T) {
	cert := []byte{0x30, 0x82, 0x01, 0x02, 0xde, 0xad}
	d := vendortest.New(vendortest.EZDRM, vendortest.Options{EZDRMProfile: "42", Certificate: cert})
	defer d.Close()
	h, err := NewHandler(Config{GatewayConfig: upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.EZDRM, URL: d.URL() + "/fps", CertificateURL: d.URL() + "/cert", Credentials: upstream.Credentials{Provider: "42"}}}},
		Deps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
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
	h2, err := NewHandler(Config{GatewayConfig: upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL(), CertificateFile: f}}}, Deps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	h2.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/license/fairplay/certificate", nil))
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), cert) {
		t.Errorf("file certificate: %d", w.Code)
	}
	if _, err := NewHandler(Config{GatewayConfig: upstream.GatewayConfig{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL()}}}, Deps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}}); err == nil {
		t.Error("no certificate source accepted")
	}
}
