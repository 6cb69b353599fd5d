package license

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// countingKeys counts the verification key lookups of a Verifier: one per
// signature check (the JWS key selection of RFC 7515 §4.1.4).
type countingKeys struct {
	entitlement.KeySource
	n atomic.Int64
}

func (c *countingKeys) Key(ctx context.Context, kid string) (entitlement.PublicKey, error) {
	c.n.Add(1)
	return c.KeySource.Key(ctx, kid)
}

// countingAuthorizer counts the decisions a license request asks for.
type countingAuthorizer struct {
	entitlement.Authorizer
	n atomic.Int64
}

func (c *countingAuthorizer) Authorize(ctx context.Context, req entitlement.Request) (entitlement.Decision, error) {
	c.n.Add(1)
	return c.Authorizer.Authorize(ctx, req)
}

// TestTokenVerifiedOncePerRequest runs the real entitlement service with
// two accepted audiences (tokens.audiences) and no verified-token cache: a
// license request with a token for the second audience is authorized once
// and its signature checked once; a request refused before authorization
// (no token, malformed body) checks no signature.
func TestTokenVerifiedOncePerRequest(t *testing.T) {
	signer, err := entitlement.NewSigner(entitlement.SignerConfig{Dir: t.TempDir(), Issuer: "drmpipe", Audience: "second"})
	if err != nil {
		t.Fatal(err)
	}
	keySource := &countingKeys{KeySource: signer}
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{
		Issuer: "drmpipe", Audience: "first", Audiences: []string{"second"}, VerifiedCacheEntries: -1,
	}, keySource, nil)
	if err != nil {
		t.Fatal(err)
	}
	ks := &fakeKeys{m: map[drm.KeyID]keyRec{kidA: {keyA, "movie", keys.HD, false}}}
	svc := entitlement.New(entitlement.Config{}, entitlement.Deps{Verifier: v, ContentKeys: ks})
	auth := &countingAuthorizer{Authorizer: svc}
	h, err := NewClearKeyHandler(ClearKeyConfig{}, ClearKeyDeps{Deps: Deps{Authorizer: auth}, Keys: ks, Scope: svc})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Sign(entitlement.Claims{Subject: "u1", ContentID: "movie"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		body       string
		hdr        map[string]string
		status     int
		authorized int64
		verified   int64
	}{
		{"granted", reqBody("temporary", kidA), bearer(tok), http.StatusOK, 1, 1},
		{"granted_again", reqBody("temporary", kidA), bearer(tok), http.StatusOK, 1, 1},
		{"no_token", reqBody("temporary", kidA), nil, http.StatusUnauthorized, 0, 0},
		{"malformed_body", `{"kids":`, bearer(tok), http.StatusBadRequest, 0, 0},
	}
	for _, tc := range cases {
		auth.n.Store(0)
		keySource.n.Store(0)
		w := post(h, tc.body, tc.hdr)
		if w.Code != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, w.Code, w.Body, tc.status)
		}
		if got := auth.n.Load(); got != tc.authorized {
			t.Errorf("%s: %d authorizations, want %d", tc.name, got, tc.authorized)
		}
		if got := keySource.n.Load(); got != tc.verified {
			t.Errorf("%s: token signature checked %d times, want %d", tc.name, got, tc.verified)
		}
	}
}
