package entitlement_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// countingKeys counts key look-ups: Verify asks for the key only when it
// really checks a signature, so the count tells cache hits from misses.
type countingKeys struct {
	next entitlement.KeySource
	n    atomic.Int64
}

func (c *countingKeys) Key(ctx context.Context, kid string) (entitlement.PublicKey, error) {
	c.n.Add(1)
	return c.next.Key(ctx, kid)
}

func newCachedVerifier(t *testing.T, clk *fakeClock, entries int) (*entitlement.Verifier, *countingKeys) {
	t.Helper()
	ks := &countingKeys{next: getKeys(t).public()}
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience, VerifiedCacheEntries: entries}, ks, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return v, ks
}

// newCachedToken is newCachedVerifier on a fresh clock, with a valid ES256
// token minted at the clock's time.
func newCachedToken(t *testing.T, entries int) (*fakeClock, *entitlement.Verifier, *countingKeys, string) {
	t.Helper()
	clk := newClock()
	v, ks := newCachedVerifier(t, clk, entries)
	return clk, v, ks, mint(t, jwt.SigningMethodES256, getKeys(t).ec, "ec1", baseClaims(clk.Now()))
}

// verifyAll verifies each token in turn and fails the test on an error.
func verifyAll(t *testing.T, v *entitlement.Verifier, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifiedCacheSkipsSecondVerification(t *testing.T) {
	_, v, ks, tok := newCachedToken(t, 0)
	ctx := context.Background()
	c1, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.n.Load(); got != 1 {
		t.Errorf("key looked up %d times for the same token twice, want 1 (cache hit)", got)
	}
	if c2.ID != c1.ID || c2.Subject != "user-1" || c2.ContentID != "movie-1" || !c2.ExpiresAt.Equal(c1.ExpiresAt) {
		t.Errorf("cached claims differ: %+v vs %+v", c2, c1)
	}
	// A caller changing its claims must not change the cached entry.
	c2.Subject, c2.Audience[0] = "mallory", "other"
	c3, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Subject != "user-1" || c3.Audience[0] != testAudience {
		t.Errorf("cached claims were changed through a returned copy: %+v", c3)
	}
}

func TestVerifiedCacheOff(t *testing.T) {
	_, v, ks, tok := newCachedToken(t, -1)
	verifyAll(t, v, tok, tok, tok)
	if got := ks.n.Load(); got != 3 {
		t.Errorf("key looked up %d times with the cache off, want 3", got)
	}
}

func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	clk, v, _, tok := newCachedToken(t, 0)
	ctx := context.Background()
	verifyAll(t, v, tok)
	// exp is now+30 s; the default skew is 5 s. Still valid at +34 s.
	clk.Advance(34 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within exp + skew: %v", err)
	}
	clk.Advance(2 * time.Second)
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, jwt.ErrTokenExpired) || entitlement.ReasonOf(err) != entitlement.ReasonTokenExpired {
		t.Fatalf("cached token past exp + skew: %v, want expired", err)
	}
}

func TestVerifiedCacheNeedsIdenticalBytes(t *testing.T) {
	_, v, _, tok := newCachedToken(t, 0)
	ctx := context.Background()
	verifyAll(t, v, tok)
	// Flip one character of the signature: a different token, verified in
	// full and refused, though the header and payload were cached.
	b := []byte(tok)
	i := len(b) - 5
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	if _, err := v.Verify(ctx, string(b)); entitlement.ReasonOf(err) != entitlement.ReasonTokenInvalid {
		t.Fatalf("tampered signature after a cached verification: %v, want invalid", err)
	}
	// A failed verification is never cached.
	if _, err := v.Verify(ctx, string(b)); err == nil {
		t.Fatal("tampered token accepted on its second try")
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	clk := newClock()
	v, ks := newCachedVerifier(t, clk, 2)
	var toks []string
	for i := range 3 {
		c := baseClaims(clk.Now())
		c["jti"] = "bounded-" + string(rune('a'+i))
		toks = append(toks, mint(t, jwt.SigningMethodES256, getKeys(t).ec, "ec1", c))
	}
	verifyAll(t, v, toks...)
	ks.n.Store(0)
	verifyAll(t, v, toks...)
	// The first two are cached; the third did not fit and is verified again.
	if got := ks.n.Load(); got != 1 {
		t.Errorf("key looked up %d times on the second pass, want 1", got)
	}
	// Once the cached ones expire, their room is reused.
	clk.Advance(40 * time.Second)
	c := baseClaims(clk.Now())
	c["jti"] = "bounded-late"
	late := mint(t, jwt.SigningMethodES256, getKeys(t).ec, "ec1", c)
	verifyAll(t, v, late, late)
	if got := ks.n.Load(); got != 2 {
		t.Errorf("key looked up %d times in all, want 2 (the late token cached after expired entries were dropped)", got)
	}
}
