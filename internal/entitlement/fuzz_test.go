package entitlement_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// FuzzVerifyJSON signs arbitrary JOSE header and claims JSON with the test
// key and verifies it. Seeds: strictJOSECases, committed corpus in
// testdata/fuzz/FuzzVerifyJSON. Whatever the JSON, Verify must not panic,
// and a token it accepts must hold what checkStrictJOSE and the ID rule
// promise, checked here by an independent reading of the same bytes.
func FuzzVerifyJSON(f *testing.F) {
	for _, tc := range strictJOSECases {
		f.Add(tc.header, tc.payload)
	}
	clk := newClock()
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience, VerifiedCacheEntries: -1},
		getKeys(f).public(), clk.Now)
	if err != nil {
		f.Fatal(err)
	}
	times := strings.NewReplacer("%IAT%", strconv.FormatInt(clk.Now().Unix(), 10), "%EXP%", strconv.FormatInt(clk.Now().Unix()+20, 10))
	f.Fuzz(func(t *testing.T, header, payload string) {
		payload = times.Replace(payload)
		c, err := v.Verify(context.Background(), signRaw(t, header, payload))
		if err != nil {
			if entitlement.ReasonOf(err) == 0 {
				t.Fatalf("error %v without a refusal reason", err)
			}
			return
		}
		h := decodeObject(t, header)
		if _, ok := h["crit"]; ok {
			t.Fatalf("accepted a crit header: %s", header)
		}
		p := decodeObject(t, payload)
		for _, name := range []string{"exp", "iat", "nbf", "pbs", "pbe"} {
			if val, ok := p[name]; ok {
				if _, isNum := val.(json.Number); !isNum {
					t.Fatalf("accepted %s = %#v", name, val)
				}
			}
		}
		if p["sub"] != c.Subject || p["jti"] != c.ID {
			t.Fatalf("claims read as sub %q jti %q, the JSON says %v %v", c.Subject, c.ID, p["sub"], p["jti"])
		}
		for _, id := range []string{c.Subject, c.ID} {
			if err := entitlement.ValidateSubjectID(id); err != nil {
				t.Fatalf("accepted ID %q: %v", id, err)
			}
		}
		if c.DeviceID != "" && entitlement.ValidateSubjectID(c.DeviceID) != nil {
			t.Fatalf("accepted device ID %q", c.DeviceID)
		}
	})
}

// decodeObject reads a JSON object into a map: faithful for an accepted
// token, whose member names are unique under case folding.
func decodeObject(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("accepted JSON that does not decode: %v", err)
	}
	lower := map[string]bool{}
	for k := range m {
		if l := strings.ToLower(k); lower[l] {
			t.Fatalf("accepted case-variant names %q", k)
		} else {
			lower[l] = true
		}
	}
	return m
}

// FuzzParseJWKS: no JWKS makes ParseJWKS panic, and an accepted set
// survives MarshalJWKS and ParseJWKS unchanged (kids, algs, keys).
func FuzzParseJWKS(f *testing.F) {
	b, err := entitlement.MarshalJWKS(getKeys(f).public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := entitlement.ParseJWKS(data)
		if err != nil {
			return
		}
		out, err := entitlement.MarshalJWKS(keys)
		if err != nil {
			t.Fatalf("accepted keys do not marshal: %v", err)
		}
		again, err := entitlement.ParseJWKS(out)
		if err != nil || len(again) != len(keys) {
			t.Fatalf("round trip: %v (%d keys, want %d)", err, len(again), len(keys))
		}
		type eq interface{ Equal(x crypto.PublicKey) bool }
		for i := range keys {
			if again[i].KID != keys[i].KID || again[i].Alg != keys[i].Alg || !keys[i].Key.(eq).Equal(again[i].Key) {
				t.Fatalf("key %d differs after the round trip", i)
			}
		}
		if bytes.Contains(out, []byte(`"d"`)) {
			t.Fatal("marshalled JWKS holds a private part")
		}
	})
}
