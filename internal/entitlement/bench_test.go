package entitlement_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// BenchmarkVerifyES256 measures ES256 playback-token verification (parse,
// signature, claims) and reports verifications per second. The token is the
// same on every call, so the verified-token cache is off here (it would
// answer every call after the first); BenchmarkVerifyES256Cached measures
// the cache.
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerifyES256(b, -1) }

// BenchmarkVerifyES256Cached measures a byte-identical token answered by
// the verified-token cache (hash, look-up, copy of the claims).
func BenchmarkVerifyES256Cached(b *testing.B) { benchmarkVerifyES256(b, 0) }

func benchmarkVerifyES256(b *testing.B, cacheEntries int) {
	clk := newClock()
	k := getKeys(b)
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience,
		Algorithms: []string{entitlement.AlgES256}, VerifiedCacheEntries: cacheEntries}, k.public(), clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	c := baseClaims(clk.Now())
	c["kids"] = []string{kidA.String(), kidB.String()}
	tok := mint(b, jwt.SigningMethodES256, k.ec, "ec1", c)
	benchParallel(b, "verifications/s", func(ctx context.Context) error {
		_, err := v.Verify(ctx, tok)
		return err
	})
}

// BenchmarkAuthorize measures a full in-memory decision (ES256 token,
// revocation, policy, device limit, replay with unlimited uses). The
// verified-token cache is off so every call checks the signature.
func BenchmarkAuthorize(b *testing.B) {
	clk := newClock()
	k := getKeys(b)
	ver, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience, VerifiedCacheEntries: -1}, k.public(), clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	svc := entitlement.New(entitlement.Config{Policy: entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1, MaxDevices: 5}}},
		entitlement.Deps{Verifier: ver, Clock: clk.Now})
	tok := mint(b, jwt.SigningMethodES256, k.ec, "ec1", baseClaims(clk.Now()))
	benchParallel(b, "decisions/s", func(ctx context.Context) error {
		_, err := svc.Authorize(ctx, entitlement.Request{Token: tok})
		return err
	})
}

// benchParallel runs op on every benchmark goroutine until b.N calls are
// done, stops a goroutine at its first error, and reports calls per second
// as unit.
func benchParallel(b *testing.B, unit string, op func(context.Context) error) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}
