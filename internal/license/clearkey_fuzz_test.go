package license

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	ck "github.com/drmpipe/drmpipe/internal/drm/clearkey"
	"github.com/drmpipe/drmpipe/internal/httperr"
)

// FuzzLicenseRequest sends any body with one of the fixture's tokens (or any
// other) through the whole ClearKey endpoint and checks what a client sees:
// never a panic or a 5xx, a refusal in the error schema without key
// material, and a license (W3C EME §9.1.4) only with keys that the request
// named and the token's decision allows, each with its true value. The
// committed corpus (testdata/fuzz/FuzzLicenseRequest) holds the requests of
// TestHappyPath and TestRefusals.
func FuzzLicenseRequest(f *testing.F) {
	for _, s := range []struct{ body, token string }{
		{reqBody("temporary", kidA, kidB), "good"},
		{`{"kids":["nrQFDeRLSAKTLifXUIPiZg=="]}`, "good"},
		{reqBody("persistent-license", kidA), "persist"},
		{reqBody("", kidA, kidB), "audio"},
		{reqBody("", kidA, kidUnknown), "good"},
		{reqBody("", kidA, kidOther), "good"},
		{reqBody("", kidRevoked), "good"},
		{reqBody("forever", kidA), "good"},
		{`{"kids":[]}`, "good"},
		{`{"kids":`, "good"},
		{reqBody("", kidA), "forged"},
	} {
		f.Add([]byte(s.body), s.token)
	}
	h, _, _ := fixture(f, nil)
	secrets := [][]byte{keyA, keyB}
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		r := httptest.NewRequest(http.MethodPost, "/license/clearkey", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, r)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d-byte request took %s", len(body), d)
		}
		if w.Code != http.StatusOK {
			switch w.Code {
			case 400, 401, 403, 404, 413:
			default:
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var eb httperr.Body
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Code == "" {
				t.Fatalf("refusal %d not in the error schema: %s", w.Code, w.Body)
			}
			for _, k := range secrets {
				for _, enc := range []string{base64.RawURLEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k)} {
					if bytes.Contains(w.Body.Bytes(), []byte(enc)) {
						t.Fatalf("key material in a refusal: %s", w.Body)
					}
				}
			}
			return
		}
		_, asked, err := ck.UnmarshalLicenseRequest(body)
		if err != nil {
			t.Fatalf("200 for a request the parser refuses: %v", err)
		}
		var lic ck.LicenseResponse
		if err := json.Unmarshal(w.Body.Bytes(), &lic); err != nil || len(lic.Keys) == 0 {
			t.Fatalf("license %s: %v", w.Body, err)
		}
		// The fixture's decisions: every token is for "movie"; "audio"
		// allows the AUDIO track type (kidB) only.
		want := map[drm.KeyID][]byte{kidA: keyA, kidB: keyB}
		if token == "audio" {
			delete(want, kidA)
		}
		for _, j := range lic.Keys {
			kid, err := ck.DecodeKID(j.Kid)
			if err != nil {
				t.Fatal(err)
			}
			key, err := base64.RawURLEncoding.DecodeString(j.K)
			if err != nil || !bytes.Equal(key, want[kid]) {
				t.Fatalf("license key for %s is not the entitled key", kid)
			}
			named := false
			for _, a := range asked {
				named = named || a == kid
			}
			if !named {
				t.Fatalf("license holds %s, which the request did not name", kid)
			}
		}
	})
}
