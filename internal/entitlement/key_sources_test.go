package entitlement_test

import (
	"context"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

func TestTokenIdentity(t *testing.T) {
	for _, tc := range []struct {
		issuer           string
		audiences        []string
		wantIss, wantAud string
	}{
		{"", nil, entitlement.DefaultIssuer, entitlement.DefaultAudience},
		{"https://op.example", []string{"a1", "a2"}, "https://op.example", "a1"},
	} {
		iss, aud := entitlement.TokensConfig{Issuer: tc.issuer, Audiences: tc.audiences}.Identity()
		if iss != tc.wantIss || aud != tc.wantAud {
			t.Errorf("Identity of %q, %v = = %q, %q; want %q, %q", tc.issuer, tc.audiences, iss, aud, tc.wantIss, tc.wantAud)
		}
	}
}

// TestKeySources: the first source knowing the kid answers; when none
// does, the first source's error comes back.
func TestKeySources(t *testing.T) {
	k := getKeys(t)
	ctx := context.Background()
	first := entitlement.StaticKeys{{KID: "own", Key: &k.ec.PublicKey}}
	ks := entitlement.KeySources{first, k.public()}
	for _, kid := range []string{"own", "rsa1"} {
		if got, err := ks.Key(ctx, kid); err != nil || got.KID != kid {
			t.Errorf("Key(%q) = %q, %v", kid, got.KID, err)
		}
	}
	_, want := first.Key(ctx, "nobody")
	if _, err := ks.Key(ctx, "nobody"); err == nil || err.Error() != want.Error() {
		t.Errorf("unknown kid: %v, want the first source's %v", err, want)
	}
}
