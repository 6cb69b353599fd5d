package clearkey

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

func TestDashJSVector(t *testing.T) {
	// Akamai ClearKey example from dash.js issue 3343:
	// kid 9eb4050d-e44b-4802-932e-27d75083e266 -> nrQFDeRLSAKTLifXUIPiZg,
	// key 166634c675823c235a4a9446fad52e4d -> FmY0xnWCPCNaSpRG-tUuTQ.
	kid, _ := drm.ParseKeyID("9eb4050d-e44b-4802-932e-27d75083e266")
	key, _ := hex.DecodeString("166634c675823c235a4a9446fad52e4d")
	if got := EncodeKID(kid); got != "nrQFDeRLSAKTLifXUIPiZg" {
		t.Errorf("EncodeKID = %s", got)
	}
	resp := LicenseResponse{Keys: []JWK{NewJWK(kid, key)}, Type: "temporary"}
	b, _ := json.Marshal(resp)
	want := `{"keys":[{"kty":"oct","k":"FmY0xnWCPCNaSpRG-tUuTQ","kid":"nrQFDeRLSAKTLifXUIPiZg"}],"type":"temporary"}`
	if string(b) != want {
		t.Errorf("response\n got %s\nwant %s", b, want)
	}
	req, kids, err := UnmarshalLicenseRequest([]byte(`{"kids":["nrQFDeRLSAKTLifXUIPiZg"],"type":"temporary"}`))
	if err != nil || len(kids) != 1 || kids[0] != kid || req.Type != "temporary" {
		t.Fatalf("request: %v %v %+v", err, kids, req)
	}
}

func TestW3CSpecVector(t *testing.T) {
	// W3C EME Clear Key example: kid LwVHf8JLtPrv2GUXFW2v_A =
	// 2f05477fc24bb4faefd86517156daffc, key tQ0bJVWb6b0KPL6KtZIy_A.
	kid, _ := drm.ParseKeyID("2f05477fc24bb4faefd86517156daffc")
	key, _ := hex.DecodeString("b50d1b25559be9bd0a3cbe8ab59232fc")
	if j := NewJWK(kid, key); j.Kid != "LwVHf8JLtPrv2GUXFW2v_A" || j.K != "tQ0bJVWb6b0KPL6KtZIy_A" {
		t.Errorf("%+v", j)
	}
}

func TestDecodeKID(t *testing.T) {
	k, err := DecodeKID("nrQFDeRLSAKTLifXUIPiZg==")
	if err != nil || EncodeKID(k) != "nrQFDeRLSAKTLifXUIPiZg" {
		t.Errorf("padded: %v", err)
	}
	for _, bad := range []string{"", "nrQF", "nrQFDeRLSAKTLifXUIPiZg+/", "***"} {
		if _, err := DecodeKID(bad); !errors.Is(err, ErrInvalid) || !errors.Is(err, drm.ErrInvalid) {
			t.Errorf("DecodeKID(%q) = %v", bad, err)
		}
	}
	for _, bad := range []string{`{"kids":[]}`, `{`, `{"kids":["x"]}`} {
		if _, _, err := UnmarshalLicenseRequest([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("request %s: %v", bad, err)
		}
	}
}
