package upstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/license"
)

// FuzzWidevineDirectResponse checks the reading of a Widevine license proxy
// answer (the vendor's JSON, outside input) on any body: it never panics;
// a refusal wraps ErrRefused and carries nothing of the license field; an
// accepted answer had status "OK" and gives exactly the decoded, non-empty
// license bytes. The committed corpus
// (testdata/fuzz/FuzzWidevineDirectResponse) holds an OK answer, refusals
// and malformed JSON.
func FuzzWidevineDirectResponse(f *testing.F) {
	for _, s := range []string{
		`{"status":"OK","license":"` + base64.StdEncoding.EncodeToString([]byte("CAIS-license-bytes")) + `"}`,
		`{"status":"SIGNATURE_FAILED"}`, `{"status":"OK","license":""}`, `{"status":"OK","license":"***"}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	w := &widevineDirect{}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := w.response(license.Call{}, license.Response{Body: body})
		var r WidevineLicenseResponse
		jerr := json.Unmarshal(body, &r)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("refusal does not wrap ErrRefused: %v", err)
			}
			if jerr == nil && len(r.License) >= 8 && bytes.Contains([]byte(err.Error()), []byte(r.License)) {
				t.Fatalf("refusal carries the license field: %v", err)
			}
			return
		}
		lic, derr := base64.StdEncoding.DecodeString(r.License)
		if jerr != nil || r.Status != "OK" || derr != nil || len(lic) == 0 || !bytes.Equal(resp.Body, lic) {
			t.Fatalf("accepted %q as %x", body, resp.Body)
		}
	})
}
