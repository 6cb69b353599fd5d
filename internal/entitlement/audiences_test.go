package entitlement_test

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// TestAudienceVerifiers: a token for the second audience passes after the
// first verifier refuses its aud; a token failing for another reason (an
// unknown key) is refused by the first verifier without trying the next.
func TestAudienceVerifiers(t *testing.T) {
	k := getKeys(t)
	clk := newClock()
	keys := entitlement.KeySources{entitlement.StaticKeys{}, k.public()}
	var vs entitlement.AudienceVerifiers
	for _, aud := range []string{"first", testAudience} {
		v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: aud}, keys, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	ctx := context.Background()
	c, err := vs.Verify(ctx, mint(t, jwt.SigningMethodES256, k.ec, "ec1", baseClaims(clk.Now())))
	if err != nil || c.Subject != "user-1" {
		t.Fatalf("token for the second audience: %v", err)
	}
	other := baseClaims(clk.Now())
	other["aud"] = "nobody"
	if _, err := vs.Verify(ctx, mint(t, jwt.SigningMethodES256, k.ec, "ec1", other)); !errors.Is(err, jwt.ErrTokenInvalidAudience) {
		t.Errorf("token for no configured audience: %v, want the aud refusal", err)
	}
	if _, err := vs.Verify(ctx, mint(t, jwt.SigningMethodES256, k.ec, "nokey", baseClaims(clk.Now()))); err == nil || errors.Is(err, jwt.ErrTokenInvalidAudience) {
		t.Errorf("token with an unknown kid: %v, want a key refusal", err)
	}
	if _, err := (entitlement.AudienceVerifiers{}).Verify(ctx, "x"); err == nil {
		t.Error("no verifiers accepted a token")
	}
}
