package playready

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf16"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// FuzzDecodeChallenge checks the PlayReady challenge check on any body: it
// never panics, forwards an accepted body unchanged (the SOAP XML starts,
// after an optional UTF-8 BOM and white space, with "<") and refuses
// everything else with drm.ErrBadChallenge. The committed corpus
// (testdata/fuzz/FuzzDecodeChallenge) holds the SOAP challenge of
// TestForwardsSOAP (license/upstream), a still-wrapped UTF-16 PlayReadyKeyMessage and binary.
func FuzzDecodeChallenge(f *testing.F) {
	soap := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope><soap:Body><AcquireLicense/></soap:Body></soap:Envelope>`
	var wrapped []byte
	for _, u := range utf16.Encode([]rune(`<PlayReadyKeyMessage type="LicenseAcquisition"><LicenseAcquisition Version="1"><Challenge encoding="base64encoded">PHNvYXA+</Challenge></LicenseAcquisition></PlayReadyKeyMessage>`)) {
		wrapped = append(wrapped, byte(u), byte(u>>8))
	}
	for _, b := range [][]byte{[]byte(soap), []byte("\xef\xbb\xbf \r\n" + soap), wrapped, []byte("\x00\x01binary"), nil} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := DecodeChallenge("", body)
		if err != nil {
			if !errors.Is(err, drm.ErrBadChallenge) {
				t.Fatalf("refusal does not wrap ErrBadChallenge: %v", err)
			}
			return
		}
		if !bytes.Equal(got, body) {
			t.Fatal("accepted challenge changed")
		}
		if rest := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n"); len(rest) == 0 || rest[0] != '<' {
			t.Fatalf("accepted a body that is not XML: %q", body)
		}
	})
}
