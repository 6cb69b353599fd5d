package entitlement_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// signRaw signs a compact JWS of exactly these header and payload bytes
// (RFC 7515 §7.1) with the test ES256 key, so tests can send JSON no
// encoder would produce: duplicate names, strings for numbers.
func signRaw(t testing.TB, header, payload string) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodES256.Sign(in, getKeys(t).ec)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// strictJOSECases are JOSE headers and claims sets drmpipe refuses although
// encoding/json, and so golang-jwt, would read them, plus the valid forms
// next to them. %IAT% and %EXP% stand for valid times. The fuzz corpus
// holds the same cases (testdata/fuzz/FuzzVerifyJSON).
var strictJOSECases = []struct {
	name            string
	header, payload string
	ok              bool
}{
	{"valid", hdr, claimsJSON(``), true},
	{"valid with pol and kids", hdr, claimsJSON(`,"pol":{"dur":60,"per":false},"kids":["11111111-2222-3333-4444-555555555555"]`), true},
	{"valid fractional exp", hdr, strings.Replace(claimsJSON(``), `"exp":%EXP%`, `"exp":%EXP%.5`, 1), true},
	{"crit naming a registered header", `{"alg":"ES256","kid":"ec1","crit":["exp"],"exp":1}`, claimsJSON(``), false},
	{"crit naming an unknown extension", `{"alg":"ES256","kid":"ec1","crit":["x-ext"],"x-ext":true}`, claimsJSON(``), false},
	{"crit empty", `{"alg":"ES256","kid":"ec1","crit":[]}`, claimsJSON(``), false},
	{"crit null", `{"alg":"ES256","kid":"ec1","crit":null}`, claimsJSON(``), false},
	{"b64 false under crit", `{"alg":"ES256","kid":"ec1","b64":false,"crit":["b64"]}`, claimsJSON(``), false},
	{"duplicate alg", `{"alg":"none","alg":"ES256","kid":"ec1"}`, claimsJSON(``), false},
	{"duplicate kid", `{"alg":"ES256","kid":"other","kid":"ec1"}`, claimsJSON(``), false},
	{"case-variant kid", `{"alg":"ES256","KID":"other","kid":"ec1"}`, claimsJSON(``), false},
	{"exp as a string", hdr, strings.Replace(claimsJSON(``), `"exp":%EXP%`, `"exp":"%EXP%"`, 1), false},
	{"iat as a string", hdr, strings.Replace(claimsJSON(``), `"iat":%IAT%`, `"iat":"%IAT%"`, 1), false},
	{"nbf as a string", hdr, claimsJSON(`,"nbf":"%IAT%"`), false},
	{"pbe as a string", hdr, claimsJSON(`,"pbe":"%EXP%"`), false},
	{"exp null", hdr, strings.Replace(claimsJSON(``), `"exp":%EXP%`, `"exp":null`, 1), false},
	{"duplicate sub", hdr, claimsJSON(`,"sub":"admin"`), false},
	{"duplicate exp", hdr, claimsJSON(`,"exp":%EXP%`), false},
	{"duplicate private claim", hdr, claimsJSON(`,"x":1,"x":2`), false},
	{"Sub next to sub", hdr, claimsJSON(`,"Sub":"admin"`), false},
	{"SUB alone for sub", hdr, strings.Replace(claimsJSON(``), `"sub":"user-1"`, `"SUB":"user-1"`, 1), false},
	{"Cid alone for cid", hdr, strings.Replace(claimsJSON(``), `"cid":"movie-1"`, `"Cid":"movie-1"`, 1), false},
	{"long s (U+017F) next to sub", hdr, claimsJSON(`,"\u017fub":"admin"`), false},
	{"long s (U+017F) unescaped next to sub", hdr, claimsJSON(`,"ſub":"admin"`), false},
	{"escaped crit", `{"alg":"ES256","kid":"ec1","\u0063rit":["x"]}`, claimsJSON(``), false},
	{"escaped duplicate sub", hdr, claimsJSON(`,"\u0073ub":"admin"`), false},
	{"valid escaped private claim", hdr, claimsJSON(`,"\u0078":"\"}"`), true},
	{"Kelvin sign (U+212A) for kids", hdr, claimsJSON(`,"\u212aids":["11111111-2222-3333-4444-555555555555"]`), false},
	{"case-variant private claims", hdr, claimsJSON(`,"x":1,"X":2`), false},
	{"duplicate in pol", hdr, claimsJSON(`,"pol":{"per":true,"per":false}`), false},
	{"case variant in pol", hdr, claimsJSON(`,"pol":{"per":false,"PER":true}`), false},
	{"duplicate in a nested private object", hdr, claimsJSON(`,"ext":[{"a":1,"a":2}]`), false},
	{"valid with many private claims", hdr, claimsJSON(manyClaims), true},
	{"duplicate among many claims, early", hdr, claimsJSON(manyClaims + `,"x3":3`), false},
	{"duplicate among many claims, late", hdr, claimsJSON(manyClaims + `,"X29":29`), false},
	{"payload not an object", hdr, `["sub","user-1"]`, false},
	{"trailing data after the payload", hdr, claimsJSON(``) + `{}`, false},
}

const hdr = `{"alg":"ES256","typ":"JWT","kid":"ec1"}`

// manyClaims are 30 private claims x0..x29: more than walkJSON compares
// one by one.
var manyClaims = func() string {
	var b strings.Builder
	for i := range 30 {
		b.WriteString(`,"x` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	return b.String()
}()

// claimsJSON is a valid claims set (baseClaims) with extra members.
func claimsJSON(extra string) string {
	return `{"iss":"` + testIssuer + `","aud":"` + testAudience + `","sub":"user-1","cid":"movie-1","jti":"j-1","did":"device-1","iat":%IAT%,"exp":%EXP%` + extra + `}`
}

func TestStrictJOSE(t *testing.T) {
	clk := newClock()
	v := newVerifier(t, getKeys(t).public(), clk)
	times := strings.NewReplacer("%IAT%", strconv.FormatInt(clk.Now().Unix(), 10), "%EXP%", strconv.FormatInt(clk.Now().Unix()+20, 10))
	for _, tc := range strictJOSECases {
		_, err := v.Verify(context.Background(), signRaw(t, tc.header, times.Replace(tc.payload)))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.ok && entitlement.ReasonOf(err) != entitlement.ReasonTokenInvalid:
			t.Errorf("%s: %v, reason %s, want %s", tc.name, err, entitlement.ReasonOf(err), entitlement.ReasonTokenInvalid)
		case !tc.ok && !errors.Is(err, entitlement.ErrTokenHeader) && !errors.Is(err, entitlement.ErrClaims) && !errors.Is(err, jwt.ErrTokenMalformed):
			t.Errorf("%s: %v, want ErrTokenHeader, ErrClaims or a malformed token", tc.name, err)
		}
	}
}
