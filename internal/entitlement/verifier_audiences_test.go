package entitlement_test

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// TestVerifierAudiences: one Verifier accepts a token naming Audience or
// any of Audiences (tokens.audiences) and refuses every other aud.
func TestVerifierAudiences(t *testing.T) {
	clk := newClock()
	k := getKeys(t)
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Audiences: []string{"second", testAudience}}, k.public(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for aud, ok := range map[string]bool{testAudience: true, "second": true, "third": false} {
		c := baseClaims(clk.Now())
		c["aud"] = aud
		_, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodES256, k.ec, "ec1", c))
		switch {
		case ok && err != nil:
			t.Errorf("aud %q refused: %v", aud, err)
		case !ok && !errors.Is(err, jwt.ErrTokenInvalidAudience):
			t.Errorf("aud %q: error %v, want %v", aud, err, jwt.ErrTokenInvalidAudience)
		case !ok && entitlement.ReasonOf(err) != entitlement.ReasonTokenInvalid:
			t.Errorf("aud %q: reason %s", aud, entitlement.ReasonOf(err))
		}
	}
}
