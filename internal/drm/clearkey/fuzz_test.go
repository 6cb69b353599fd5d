package clearkey

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// FuzzUnmarshalLicenseRequest checks that a license request (W3C EME §9.1.3)
// never panics, is refused with ErrInvalid or accepted with one 16-byte KID
// per "kids" entry, and that an accepted request written back in the
// canonical form (base64url without padding) parses to the same KIDs and
// type. The committed corpus (testdata/fuzz/FuzzUnmarshalLicenseRequest)
// holds the dash.js and W3C vectors and malformed requests.
func FuzzUnmarshalLicenseRequest(f *testing.F) {
	for _, s := range []string{
		`{"kids":["nrQFDeRLSAKTLifXUIPiZg"],"type":"temporary"}`,
		`{"kids":["LwVHf8JLtPrv2GUXFW2v_A","nrQFDeRLSAKTLifXUIPiZg=="],"type":"persistent-license"}`,
		`{"kids":[]}`, `{`, `{"kids":["x"]}`, `{"kids":null}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		start := time.Now()
		r, kids, err := UnmarshalLicenseRequest(b)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d-byte request took %s", len(b), d)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, drm.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(kids) == 0 || len(kids) != len(r.KIDs) {
			t.Fatalf("%d kids decoded from %d entries", len(kids), len(r.KIDs))
		}
		canon := LicenseRequest{Type: r.Type}
		for _, k := range kids {
			canon.KIDs = append(canon.KIDs, EncodeKID(k))
		}
		out, err := json.Marshal(canon)
		if err != nil {
			t.Fatal(err)
		}
		r2, kids2, err := UnmarshalLicenseRequest(out)
		if err != nil {
			t.Fatalf("canonical form %s refused: %v", out, err)
		}
		if r2.Type != r.Type || len(kids2) != len(kids) {
			t.Fatalf("round trip: %+v -> %+v", r, r2)
		}
		for i := range kids {
			if kids2[i] != kids[i] {
				t.Fatalf("kid %d: %s -> %s", i, kids[i], kids2[i])
			}
		}
	})
}
