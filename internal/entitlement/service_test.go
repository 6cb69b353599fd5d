package entitlement_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

var (
	kidA = mustKID("11111111-2222-3333-4444-555555555555")
	kidB = mustKID("66666666-7777-8888-9999-aaaaaaaaaaaa")
)

func mustKID(s string) drm.KeyID {
	k, err := drm.ParseKeyID(s)
	if err != nil {
		panic(err)
	}
	return k
}

type fixture struct {
	clk  *fakeClock
	k    testKeys
	svc  *entitlement.Service
	revs *entitlement.MemoryRevocations
}

func newFixture(t *testing.T, pc entitlement.PolicyConfig) *fixture {
	t.Helper()
	clk := newClock()
	k := getKeys(t)
	revs := entitlement.NewMemoryRevocations(clk.Now)
	svc := entitlement.New(entitlement.Config{Policy: pc}, entitlement.Deps{
		Verifier: newVerifier(t, k.public(), clk), Revocations: revs, Clock: clk.Now,
	})
	return &fixture{clk: clk, k: k, svc: svc, revs: revs}
}

func wantReason(t *testing.T, err error, want entitlement.Reason) *entitlement.DenyError {
	t.Helper()
	var de *entitlement.DenyError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DenyError (want %s)", err, want)
	}
	if de.Reason != want {
		t.Fatalf("reason %s, want %s (%v)", de.Reason, want, err)
	}
	return de
}

// TestAttacks is the attack table of issue 4: each forged, stale or
// misused token is refused with the right reason.
func TestAttacks(t *testing.T) {
	f := newFixture(t, entitlement.PolicyConfig{})
	now := f.clk.Now()
	es := func(mod func(jwt.MapClaims)) string {
		c := baseClaims(now)
		if mod != nil {
			mod(c)
		}
		return mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&f.k.rsa.PublicKey))})
	rsaPubDER := must(x509.MarshalPKIXPublicKey(&f.k.rsa.PublicKey))
	hsPEM := mint(t, jwt.SigningMethodHS256, rsaPubPEM, "rsa1", baseClaims(now))
	hsDER := mint(t, jwt.SigningMethodHS256, rsaPubDER, "rsa1", baseClaims(now))
	hsNoKid := mint(t, jwt.SigningMethodHS256, rsaPubPEM, "", baseClaims(now))
	none := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ec1", baseClaims(now))
	noneUpper := strings.Join([]string{
		b64(`{"alg":"NONE","typ":"JWT","kid":"ec1"}`), strings.Split(es(nil), ".")[1], "",
	}, ".")
	valid := es(nil)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64(`{"iss":"`+testIssuer+`","aud":"`+testAudience+`","sub":"admin","cid":"movie-1","jti":"x","iat":`+itoa(now.Unix())+`,"exp":`+itoa(now.Unix()+30)+`}`) + "." + parts[2]

	cases := []struct {
		name  string
		token string
		req   func(*entitlement.Request)
		want  entitlement.Reason
		is    error
	}{
		{name: "missing", token: "", want: entitlement.ReasonTokenMissing},
		{name: "expired", token: es(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-60*time.Second).Unix(), now.Add(-31*time.Second).Unix()
		}), want: entitlement.ReasonTokenExpired, is: jwt.ErrTokenExpired},
		{name: "expired 6 s ago (beyond 5 s skew)", token: es(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-36*time.Second).Unix(), now.Add(-6*time.Second).Unix()
		}), want: entitlement.ReasonTokenExpired},
		{name: "not yet valid", token: es(func(c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Second).Unix() }), want: entitlement.ReasonTokenExpired, is: jwt.ErrTokenNotValidYet},
		{name: "issued in the future", token: es(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(20*time.Second).Unix(), now.Add(40*time.Second).Unix()
		}), want: entitlement.ReasonTokenExpired, is: jwt.ErrTokenUsedBeforeIssued},
		{name: "wrong audience", token: es(func(c jwt.MapClaims) { c["aud"] = "other-service" }), want: entitlement.ReasonTokenInvalid, is: jwt.ErrTokenInvalidAudience},
		{name: "no audience", token: es(func(c jwt.MapClaims) { delete(c, "aud") }), want: entitlement.ReasonTokenInvalid},
		{name: "wrong issuer", token: es(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), want: entitlement.ReasonTokenInvalid, is: jwt.ErrTokenInvalidIssuer},
		{name: "wrong issuer and expired reports invalid", token: es(func(c jwt.MapClaims) {
			c["iss"], c["iat"], c["exp"] = "https://evil.example", now.Add(-60*time.Second).Unix(), now.Add(-40*time.Second).Unix()
		}), want: entitlement.ReasonTokenInvalid},
		{name: "alg none", token: none, want: entitlement.ReasonTokenInvalid, is: entitlement.ErrAlgorithm},
		{name: "alg NONE", token: noneUpper, want: entitlement.ReasonTokenInvalid},
		{name: "HS256 with RSA public key PEM", token: hsPEM, want: entitlement.ReasonTokenInvalid, is: entitlement.ErrAlgorithm},
		{name: "HS256 with RSA public key DER", token: hsDER, want: entitlement.ReasonTokenInvalid, is: entitlement.ErrAlgorithm},
		{name: "HS256 without kid", token: hsNoKid, want: entitlement.ReasonTokenInvalid, is: entitlement.ErrAlgorithm},
		{name: "RS256 naming the EC key", token: mint(t, jwt.SigningMethodRS256, f.k.rsa, "ec1", baseClaims(now)), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrAlgorithm},
		{name: "ES256 signed by an unknown key", token: mint(t, jwt.SigningMethodES256, newEC(t), "ec1", baseClaims(now)), want: entitlement.ReasonTokenInvalid, is: jwt.ErrTokenSignatureInvalid},
		{name: "unknown kid", token: mint(t, jwt.SigningMethodES256, f.k.ec, "rotated-away", baseClaims(now)), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrUnknownKID},
		{name: "no kid with several keys", token: mint(t, jwt.SigningMethodES256, f.k.ec, "", baseClaims(now)), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrUnknownKID},
		{name: "oversized", token: es(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("A", 9000) }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrTokenTooLarge},
		{name: "oversized garbage", token: strings.Repeat("x", 100000), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrTokenTooLarge},
		{name: "tampered payload", token: tampered, want: entitlement.ReasonTokenInvalid, is: jwt.ErrTokenSignatureInvalid},
		{name: "garbage", token: "not.a.jwt", want: entitlement.ReasonTokenInvalid},
		{name: "lifetime over 30s", token: es(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "no exp", token: es(func(c jwt.MapClaims) { delete(c, "exp") }), want: entitlement.ReasonTokenInvalid},
		{name: "no iat", token: es(func(c jwt.MapClaims) { delete(c, "iat") }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "no jti", token: es(func(c jwt.MapClaims) { delete(c, "jti") }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "no sub", token: es(func(c jwt.MapClaims) { delete(c, "sub") }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "no cid", token: es(func(c jwt.MapClaims) { delete(c, "cid") }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "bad kids", token: es(func(c jwt.MapClaims) { c["kids"] = []string{"zz"} }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "unknown track type", token: es(func(c jwt.MapClaims) { c["tt"] = []string{"8K"} }), want: entitlement.ReasonTokenInvalid, is: entitlement.ErrClaims},
		{name: "token for another content", token: valid, req: func(r *entitlement.Request) { r.ContentID = "movie-2" }, want: entitlement.ReasonNotEntitled},
		{name: "KID not in token", token: es(func(c jwt.MapClaims) { c["kids"] = []string{kidA.String()} }),
			req: func(r *entitlement.Request) { r.KIDs = []drm.KeyID{kidA, kidB} }, want: entitlement.ReasonNotEntitled},
		{name: "persistent not allowed", token: valid, req: func(r *entitlement.Request) { r.Persistent = true }, want: entitlement.ReasonNotEntitled},
		{name: "playback window closed", token: es(func(c jwt.MapClaims) { c["pbe"] = now.Add(-time.Second).Unix() }), want: entitlement.ReasonNotEntitled},
		{name: "playback window not open", token: es(func(c jwt.MapClaims) { c["pbs"] = now.Add(time.Hour).Unix() }), want: entitlement.ReasonNotEntitled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := entitlement.Request{Token: tc.token, System: drm.ClearKey}
			if tc.req != nil {
				tc.req(&req)
			}
			_, err := f.svc.Authorize(context.Background(), req)
			de := wantReason(t, err, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if strings.Contains(de.Message, tc.token) && tc.token != "" {
				t.Errorf("message echoes the token")
			}
		})
	}
}

func TestValidTokensPerAlgorithm(t *testing.T) {
	f := newFixture(t, entitlement.PolicyConfig{})
	now := f.clk.Now()
	for _, tc := range []struct {
		m   jwt.SigningMethod
		key any
		kid string
	}{
		{jwt.SigningMethodES256, f.k.ec, "ec1"}, {jwt.SigningMethodRS256, f.k.rsa, "rsa1"}, {jwt.SigningMethodEdDSA, f.k.ed, "ed1"},
	} {
		c := baseClaims(now)
		c["jti"] = "jti-" + tc.kid
		c["kids"] = []string{kidA.String()}
		c["tt"] = []string{"HD", "AUDIO"}
		d, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: mint(t, tc.m, tc.key, tc.kid, c), KIDs: []drm.KeyID{kidA}, ContentID: "movie-1"})
		if err != nil {
			t.Fatalf("%s: %v", tc.m.Alg(), err)
		}
		if d.Subject != "user-1" || d.ContentID != "movie-1" || d.DeviceID != "device-1" || d.JTI != "jti-"+tc.kid {
			t.Errorf("%s: decision %+v", tc.m.Alg(), d)
		}
		if !d.TokenExpiry.Equal(now.Add(30*time.Second)) || d.Policy.LicenseDuration != entitlement.DefaultLicenseDuration {
			t.Errorf("%s: expiry %v policy %+v", tc.m.Alg(), d.TokenExpiry, d.Policy)
		}
		allows := func(contentID string, kid drm.KeyID, tt keys.TrackType) bool {
			return d.MayRelease(entitlement.ContentKeyRef{KID: kid, ContentID: contentID, TrackType: tt, Active: true}) == nil
		}
		if !allows("movie-1", kidA, keys.HD) || allows("movie-1", kidA, keys.SD) || allows("movie-1", kidB, keys.HD) || allows("movie-2", kidA, keys.HD) {
			t.Errorf("%s: MayRelease wrong for kids %v tt %v", tc.m.Alg(), d.KIDs, d.TrackTypes)
		}
	}
	// Within the 5 s skew an expired token still passes.
	c := baseClaims(now)
	c["iat"], c["exp"], c["jti"] = now.Add(-33*time.Second).Unix(), now.Add(-3*time.Second).Unix(), "skew"
	if _, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)}); err != nil {
		t.Errorf("token 3 s past exp (skew 5 s): %v", err)
	}
}

func TestPinnedAlgorithmSubset(t *testing.T) {
	clk := newClock()
	k := getKeys(t)
	v := newVerifier(t, k.public(), clk, entitlement.AlgES256)
	c := baseClaims(clk.Now())
	if _, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodES256, k.ec, "ec1", c)); err != nil {
		t.Fatalf("ES256: %v", err)
	}
	for _, tok := range []string{mint(t, jwt.SigningMethodRS256, k.rsa, "rsa1", c), mint(t, jwt.SigningMethodEdDSA, k.ed, "ed1", c)} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, entitlement.ErrAlgorithm) {
			t.Errorf("non-pinned algorithm: %v, want ErrAlgorithm", err)
		}
	}
	for _, bad := range []string{"HS256", "none", "PS256", "ES384"} {
		if _, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: "i", Audience: "a", Algorithms: []string{bad}}, k.public(), nil); !errors.Is(err, entitlement.ErrConfig) {
			t.Errorf("algorithm %s accepted by config: %v", bad, err)
		}
	}
	if _, err := entitlement.NewVerifier(entitlement.VerifierConfig{Audience: "a"}, k.public(), nil); !errors.Is(err, entitlement.ErrConfig) {
		t.Errorf("missing issuer accepted")
	}
}

func TestReplayBeyondPolicy(t *testing.T) {
	two := 2
	f := newFixture(t, entitlement.PolicyConfig{Content: map[string]entitlement.PolicyOverride{"movie-2": {MaxUses: &two}}})
	now := f.clk.Now()
	tok := mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", baseClaims(now))
	for i := 1; i <= entitlement.DefaultMaxUses; i++ {
		if _, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: tok}); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	_, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: tok})
	wantReason(t, err, entitlement.ReasonReplay)

	c := baseClaims(now)
	c["cid"], c["jti"] = "movie-2", "other"
	tok2 := mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)
	for i := 1; i <= 2; i++ {
		if _, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: tok2}); err != nil {
			t.Fatalf("movie-2 use %d: %v", i, err)
		}
	}
	_, err = f.svc.Authorize(context.Background(), entitlement.Request{Token: tok2})
	wantReason(t, err, entitlement.ReasonReplay)

	unlimited := -1
	f2 := newFixture(t, entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: unlimited}})
	tok3 := mint(t, jwt.SigningMethodES256, f2.k.ec, "ec1", baseClaims(f2.clk.Now()))
	for i := 0; i < 10; i++ {
		if _, err := f2.svc.Authorize(context.Background(), entitlement.Request{Token: tok3}); err != nil {
			t.Fatalf("unlimited use %d: %v", i, err)
		}
	}
}

func TestRevoked(t *testing.T) {
	f := newFixture(t, entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1}})
	now := f.clk.Now()
	ctx := context.Background()
	var seen []entitlement.Revocation
	cancel := f.revs.Subscribe(func(r entitlement.Revocation) { seen = append(seen, r) })
	defer cancel()

	mk := func(sub, did, jti string) string {
		c := baseClaims(now)
		c["sub"], c["did"], c["jti"] = sub, did, jti
		return mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)
	}
	cases := []struct {
		rev   entitlement.Revocation
		token string
		kids  []drm.KeyID
	}{
		{entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "bad-user", By: "ops", Reason: "fraud"}, mk("bad-user", "d1", "j1"), nil},
		{entitlement.Revocation{Kind: entitlement.RevokeDevice, Value: "bad-device", By: "ops"}, mk("u2", "bad-device", "j2"), nil},
		{entitlement.Revocation{Kind: entitlement.RevokeToken, Value: "bad-jti", By: "ops"}, mk("u3", "d3", "bad-jti"), nil},
		{entitlement.Revocation{Kind: entitlement.RevokeKID, Value: strings.ToUpper(kidB.Hex()), By: "ops", Reason: "leaked"}, mk("u4", "d4", "j4"), []drm.KeyID{kidB}},
	}
	for _, tc := range cases {
		req := entitlement.Request{Token: tc.token, KIDs: tc.kids}
		if _, err := f.svc.Authorize(ctx, req); err != nil {
			t.Fatalf("%s before revocation: %v", tc.rev.Kind, err)
		}
		if err := f.revs.Revoke(ctx, tc.rev); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authorize(ctx, req)
		wantReason(t, err, entitlement.ReasonRevoked)
	}
	wantReason(t, f.svc.CheckKIDs(ctx, kidA, kidB), entitlement.ReasonRevoked)
	if err := f.svc.CheckKIDs(ctx, kidA); err != nil {
		t.Errorf("kidA not revoked: %v", err)
	}
	list, _ := f.revs.List(ctx)
	if len(list) != 4 || len(seen) != 4 {
		t.Fatalf("audit %d entries, subscriber saw %d, want 4", len(list), len(seen))
	}
	if list[3].Value != kidB.String() || list[3].By != "ops" || list[3].Reason != "leaked" || !list[3].At.Equal(now) {
		t.Errorf("audit entry %+v", list[3])
	}
	for _, bad := range []entitlement.Revocation{{Kind: entitlement.RevokeKID, Value: "nope"}, {Kind: 9, Value: "x"}, {Kind: entitlement.RevokeUser}} {
		if err := f.revs.Revoke(ctx, bad); !errors.Is(err, entitlement.ErrRevocation) {
			t.Errorf("Revoke(%+v) = %v", bad, err)
		}
	}
}

func TestPolicyCompile(t *testing.T) {
	per, hd := true, entitlement.HDCPV2
	sl := entitlement.SecurityLevel(3)
	week := 7 * 24 * time.Hour
	f := newFixture(t, entitlement.PolicyConfig{
		Default: entitlement.ContentPolicy{LicenseDuration: 2 * time.Hour},
		Content: map[string]entitlement.PolicyOverride{"rental": {AllowPersistent: &per, HDCP: &hd, SecurityLevel: &sl, LicenseDuration: &week, RentalWindow: &week}},
	})
	now := f.clk.Now()
	c := baseClaims(now)
	c["cid"], c["jti"] = "rental", "r1"
	c["pol"] = map[string]any{"dur": 3600, "rw": 86400 * 30, "hdcp": "HDCP_V1", "sl": 5}
	d, err := f.svc.Authorize(context.Background(), entitlement.Request{Token: mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c), Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	want := entitlement.Policy{LicenseDuration: time.Hour, RentalWindow: week, Persistent: true, HDCP: entitlement.HDCPV2, SecurityLevel: 5}
	if d.Policy != want {
		t.Errorf("policy %+v, want %+v (overrides only tighten)", d.Policy, want)
	}
	// pol.per=false forbids persistence; pbe caps the duration.
	c["jti"], c["pol"], c["pbe"] = "r2", map[string]any{"per": false}, now.Add(10*time.Minute).Unix()
	tok := mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)
	_, err = f.svc.Authorize(context.Background(), entitlement.Request{Token: tok, Persistent: true})
	wantReason(t, err, entitlement.ReasonNotEntitled)
	d, err = f.svc.Authorize(context.Background(), entitlement.Request{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if d.Policy.LicenseDuration != 10*time.Minute || d.Policy.Persistent {
		t.Errorf("policy %+v, want 10 min temporary", d.Policy)
	}
	// Default content: 2 h, no persistence.
	c2 := baseClaims(now)
	d, err = f.svc.Authorize(context.Background(), entitlement.Request{Token: mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c2)})
	if err != nil || d.Policy.LicenseDuration != 2*time.Hour || d.Policy.HDCP != entitlement.HDCPNone {
		t.Errorf("default policy %+v, %v", d.Policy, err)
	}
	bad := entitlement.DefaultPolicyConfig()
	bad.GeoIPFile = "g.mmdb"
	bad.Content = map[string]entitlement.PolicyOverride{"x": {Geo: &entitlement.GeoRule{Allow: []string{"USA"}}}}
	if err := bad.Validate("policy"); !errors.Is(err, entitlement.ErrConfig) || !strings.Contains(err.Error(), "policy.content.x.geo.allow[0]") {
		t.Errorf("Validate accepted a 3-letter country: %v", err)
	}
}

func TestNoVerifier(t *testing.T) {
	svc := entitlement.New(entitlement.Config{}, entitlement.Deps{})
	_, err := svc.Authorize(context.Background(), entitlement.Request{Token: "x"})
	wantReason(t, err, entitlement.ReasonUnavailable)
	if svc.Ready() == nil {
		t.Error("Ready without verifier")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRestoreRevocations: revocations restored from the durable log (at
// startup) are enforced and listed, and notify no subscriber (their purges
// were done when they were made); a bad entry is refused.
func TestRestoreRevocations(t *testing.T) {
	f := newFixture(t, entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1}})
	now := f.clk.Now()
	ctx := context.Background()
	notified := 0
	cancel := f.revs.Subscribe(func(entitlement.Revocation) { notified++ })
	defer cancel()
	c := baseClaims(now)
	c["sub"], c["did"] = "restored-user", "d1"
	token := mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", c)
	if _, err := f.svc.Authorize(ctx, entitlement.Request{Token: token}); err != nil {
		t.Fatalf("before restore: %v", err)
	}
	at := now.Add(-time.Hour)
	err := f.revs.Restore([]entitlement.Revocation{
		{Kind: entitlement.RevokeUser, Value: "restored-user", By: "apikey:ops", Reason: "fraud", At: at},
		{Kind: entitlement.RevokeKID, Value: strings.ToUpper(kidB.Hex()), By: "apikey:ops", At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authorize(ctx, entitlement.Request{Token: token})
	wantReason(t, err, entitlement.ReasonRevoked)
	wantReason(t, f.svc.CheckKIDs(ctx, kidB), entitlement.ReasonRevoked)
	if notified != 0 {
		t.Errorf("restore notified subscribers %d times", notified)
	}
	list, _ := f.revs.List(ctx)
	if len(list) != 2 || list[0].Value != "restored-user" || list[0].Reason != "fraud" || !list[0].At.Equal(at) || list[1].Value != kidB.String() {
		t.Errorf("listed after restore: %+v", list)
	}
	if err := f.revs.Restore([]entitlement.Revocation{{Kind: entitlement.RevokeKID, Value: "not-a-kid"}}); err == nil {
		t.Error("restoring a malformed KID revocation succeeded")
	}
}

// TestReplayPerKeySet: max_uses counts the uses of a token per set of
// requested KIDs, so that a player of key-rotated content (a new KID every
// key period, live or packaged) is not refused at the fourth period, while
// asking again and again for the same keys still exhausts the token.
func TestReplayPerKeySet(t *testing.T) {
	f := newFixture(t, entitlement.PolicyConfig{})
	tok := mint(t, jwt.SigningMethodES256, f.k.ec, "ec1", baseClaims(f.clk.Now()))
	ctx := context.Background()
	period := func(i byte) []drm.KeyID { return []drm.KeyID{{i}} }
	for p := byte(1); p <= 2*entitlement.DefaultMaxUses; p++ {
		if _, err := f.svc.Authorize(ctx, entitlement.Request{Token: tok, KIDs: period(p)}); err != nil {
			t.Fatalf("key period %d: %v", p, err)
		}
	}
	// Order does not make another set.
	both := []drm.KeyID{{1}, {2}}
	for i := 1; i <= entitlement.DefaultMaxUses; i++ {
		if _, err := f.svc.Authorize(ctx, entitlement.Request{Token: tok, KIDs: []drm.KeyID{both[i%2], both[(i+1)%2]}}); err != nil {
			t.Fatalf("use %d of KIDs 1+2: %v", i, err)
		}
	}
	_, err := f.svc.Authorize(ctx, entitlement.Request{Token: tok, KIDs: []drm.KeyID{{2}, {1}}})
	wantReason(t, err, entitlement.ReasonReplay)
	for i := 2; i <= entitlement.DefaultMaxUses; i++ {
		if _, err := f.svc.Authorize(ctx, entitlement.Request{Token: tok, KIDs: period(1)}); err != nil {
			t.Fatalf("use %d of period 1's KID: %v", i, err)
		}
	}
	_, err = f.svc.Authorize(ctx, entitlement.Request{Token: tok, KIDs: period(1)})
	wantReason(t, err, entitlement.ReasonReplay)
}
