package entitlement_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

const (
	testIssuer   = "https://operator.example"
	testAudience = "drmpipe"
)

// fakeClock is an injectable clock that only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKeys are one key per accepted algorithm, generated per process.
type testKeys struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func getKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keysVal = testKeys{ec: ec, rsa: rk, ed: ed}
	})
	return keysVal
}

func (k testKeys) public() entitlement.StaticKeys {
	return entitlement.StaticKeys{
		{KID: "ec1", Alg: entitlement.AlgES256, Key: &k.ec.PublicKey},
		{KID: "rsa1", Key: &k.rsa.PublicKey},
		{KID: "ed1", Key: k.ed.Public()},
	}
}

// baseClaims are valid claims at now.
func baseClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1", "cid": "movie-1",
		"jti": "jti-" + now.Format("150405.000000000"), "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(),
		"did": "device-1",
	}
}

// mint signs claims with method and key, setting kid when non-empty.
func mint(t testing.TB, m jwt.SigningMethod, key crypto.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func newVerifier(t testing.TB, ks entitlement.KeySource, clk *fakeClock, algs ...string) *entitlement.Verifier {
	t.Helper()
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: testIssuer, Audience: testAudience, Algorithms: algs}, ks, clk.Now)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}
