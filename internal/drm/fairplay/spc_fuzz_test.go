package fairplay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// FuzzDecodeSPC checks the FairPlay SPC body decoder on any content type
// and body: it never panics; a raw body (any type but form or JSON) is the
// SPC unchanged; a refusal wraps drm.ErrBadChallenge; and an SPC
// decoded from a form or JSON body, wrapped again the way players send it
// (standard base64), decodes to the same bytes. The committed corpus
// (testdata/fuzz/FuzzDecodeSPC) holds the bodies of
// TestSPCBodiesAndCertificate (license/upstream) and malformed ones.
func FuzzDecodeSPC(f *testing.F) {
	spc := []byte{0, 1, 2, 250, 251, 252, '+', '/'}
	b64 := base64.StdEncoding.EncodeToString(spc)
	for _, s := range []struct{ ct, body string }{
		{"application/octet-stream", string(spc)},
		{"application/x-www-form-urlencoded", url.Values{"spc": {b64}, "assetId": {"x"}}.Encode()},
		{"application/x-www-form-urlencoded", "spc=" + b64},
		{"application/json", `{"spc":"` + b64 + `"}`},
		{"application/json; charset=utf-8", `{"spc":"` + base64.RawURLEncoding.EncodeToString(spc) + `"}`},
		{"application/json", `{"nope":1}`},
		{"application/x-www-form-urlencoded", "spc=%zz"},
		{"", ""},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		got, err := DecodeSPC(ct, body)
		if err != nil {
			if !errors.Is(err, drm.ErrBadChallenge) {
				t.Fatalf("refusal does not wrap ErrBadChallenge: %v", err)
			}
			return
		}
		var again []byte
		switch mediaType(ct) {
		case "application/x-www-form-urlencoded":
			again = []byte(url.Values{"spc": {base64.StdEncoding.EncodeToString(got)}}.Encode())
		case "application/json":
			again, _ = json.Marshal(map[string]string{"spc": base64.StdEncoding.EncodeToString(got)})
		default:
			if !bytes.Equal(got, body) {
				t.Fatalf("raw body changed: %x -> %x", body, got)
			}
			return
		}
		if len(got) == 0 {
			return // an empty SPC does not re-wrap (an empty field is refused); the gateway refuses it
		}
		got2, err := DecodeSPC(ct, again)
		if err != nil || !bytes.Equal(got2, got) {
			t.Fatalf("re-wrapped SPC %x: %x, %v", got, got2, err)
		}
	})
}

// mediaType is the media type DecodeSPC switches on.
func mediaType(ct string) string {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}
