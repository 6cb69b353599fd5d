package entitlement_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// jwksServer serves a replaceable JWKS and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
	stall   time.Duration
}

func (s *jwksServer) set(t *testing.T, keys ...entitlement.PublicKey) {
	t.Helper()
	b, err := entitlement.MarshalJWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	if s.stall > 0 {
		select {
		case <-time.After(s.stall):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	b := s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(b)
}

func newEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWKSRotation(t *testing.T) {
	clk := newClock()
	old, rotated := newEC(t), newEC(t)
	srv := &jwksServer{}
	srv.set(t, entitlement.PublicKey{KID: "k1", Alg: "ES256", Key: &old.PublicKey})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ks, err := entitlement.NewJWKSKeys(context.Background(), entitlement.JWKSConfig{
		URL: hs.URL, Now: clk.Now, RefreshInterval: time.Hour, MinRefreshInterval: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, ks, clk)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, jwt.SigningMethodES256, old, "k1", baseClaims(clk.Now()))); err != nil {
		t.Fatalf("old key: %v", err)
	}
	// The issuer rotates to k2 and drops k1.
	srv.set(t, entitlement.PublicKey{KID: "k2", Alg: "ES256", Key: &rotated.PublicKey})
	clk.Advance(11 * time.Second)
	if _, err := v.Verify(ctx, mint(t, jwt.SigningMethodES256, rotated, "k2", baseClaims(clk.Now()))); err != nil {
		t.Fatalf("rotated key after unknown-kid refresh: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (initial + unknown kid)", n)
	}
	// Forged kids cannot make us fetch more than once per MinRefreshInterval.
	for i := 0; i < 20; i++ {
		_, err := v.Verify(ctx, mint(t, jwt.SigningMethodES256, rotated, "forged", baseClaims(clk.Now())))
		if !errors.Is(err, entitlement.ErrUnknownKID) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after forged kids within the rate limit, want 2", n)
	}
	clk.Advance(11 * time.Second)
	_, _ = v.Verify(ctx, mint(t, jwt.SigningMethodES256, rotated, "forged", baseClaims(clk.Now())))
	if n := srv.fetches.Load(); n != 3 {
		t.Errorf("%d fetches after the interval, want 3", n)
	}
	// The old key is gone.
	if _, err := v.Verify(ctx, mint(t, jwt.SigningMethodES256, old, "k1", baseClaims(clk.Now()))); !errors.Is(err, entitlement.ErrUnknownKID) {
		t.Errorf("dropped key still accepted: %v", err)
	}
	// Background refresh once RefreshInterval passes (known kid: served from cache).
	third := newEC(t)
	srv.set(t, entitlement.PublicKey{KID: "k2", Alg: "ES256", Key: &rotated.PublicKey}, entitlement.PublicKey{KID: "k3", Alg: "ES256", Key: &third.PublicKey})
	clk.Advance(time.Hour)
	if _, err := ks.Key(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.fetches.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want a background refresh", n)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, err := (entitlement.KeySource)(ks).Key(ctx, "k3"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("k3 not installed by background refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSFetchTimeoutAndFile(t *testing.T) {
	srv := &jwksServer{stall: 2 * time.Second}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	start := time.Now()
	_, err := entitlement.NewJWKSKeys(context.Background(), entitlement.JWKSConfig{URL: hs.URL, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, entitlement.ErrJWKS) || time.Since(start) > time.Second {
		t.Fatalf("stalled JWKS: %v after %v", err, time.Since(start))
	}

	k := newEC(t)
	b, _ := entitlement.MarshalJWKS([]entitlement.PublicKey{{KID: "f1", Key: &k.PublicKey}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ks, err := entitlement.NewJWKSKeys(context.Background(), entitlement.JWKSConfig{File: path})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ks.Key(context.Background(), "f1")
	if err != nil || !got.Key.(*ecdsa.PublicKey).Equal(&k.PublicKey) {
		t.Fatalf("file key: %v", err)
	}
	if _, err := entitlement.NewJWKSKeys(context.Background(), entitlement.JWKSConfig{}); !errors.Is(err, entitlement.ErrConfig) {
		t.Errorf("no source: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	// RFC 7638 §3.1 example RSA key; its thumbprint is given there as
	// NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
	const rfc7638 = `{"keys":[{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]}`
	keys, err := entitlement.ParseJWKS([]byte(rfc7638))
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].KID != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("thumbprint kid %q", keys[0].KID)
	}
	bad := map[string]string{
		"hmac secret":  `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		"private EC":   `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}`,
		"enc use":      `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		"HS256 alg":    `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		"small RSA":    `{"keys":[{"kty":"RSA","e":"AQAB","n":"` + b64("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") + `"}]}`,
		"off curve":    `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64("0123456789abcdef0123456789abcdef") + `","y":"` + b64("0123456789abcdef0123456789abcdef") + `"}]}`,
		"P-384":        `{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`,
		"empty":        `{"keys":[]}`,
		"not json":     `keys`,
		"duplicate id": `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
	}
	for name, doc := range bad {
		if _, err := entitlement.ParseJWKS([]byte(doc)); !errors.Is(err, entitlement.ErrJWKS) {
			t.Errorf("%s: %v, want ErrJWKS", name, err)
		}
	}
	// Round trip of every supported key type.
	k := getKeys(t)
	in := k.public()
	b, err := entitlement.MarshalJWKS(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := entitlement.ParseJWKS(b)
	if err != nil || len(out) != 3 {
		t.Fatalf("round trip: %v", err)
	}
	for i := range in {
		type eq interface{ Equal(x crypto.PublicKey) bool }
		if out[i].KID != in[i].KID || !in[i].Key.(eq).Equal(out[i].Key) {
			t.Errorf("key %d differs after round trip", i)
		}
	}
}
