package entitlement_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// BenchmarkVerifyES256 measures ES256 playback-token verification (parse,
// signature, claims) and reports verifications per second.
func BenchmarkVerifyES256(b *testing.B) {
	clk := newClock()
	k := getKeys(b)
	v := newVerifier(b, k.public(), clk, entitlement.AlgES256)
	c := baseClaims(clk.Now())
	c["kids"] = []string{kidA.String(), kidB.String()}
	tok := mint(b, jwt.SigningMethodES256, k.ec, "ec1", c)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "verifications/s")
}

// BenchmarkAuthorize measures a full in-memory decision (ES256 token,
// revocation, policy, device limit, replay with unlimited uses).
func BenchmarkAuthorize(b *testing.B) {
	clk := newClock()
	k := getKeys(b)
	svc := entitlement.New(entitlement.Config{Policy: entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1, MaxDevices: 5}}},
		entitlement.Deps{Verifier: newVerifier(b, k.public(), clk), Clock: clk.Now})
	tok := mint(b, jwt.SigningMethodES256, k.ec, "ec1", baseClaims(clk.Now()))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authorize(ctx, entitlement.Request{Token: tok}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}
