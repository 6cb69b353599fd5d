package testtools

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// OperatorKey makes an ES256 key an operator's backend would sign playback
// tokens with, and writes its public half as a JWKS file (tokens.jwks_file)
// in dir. It returns the key, its KID and the file.
func OperatorKey(t testing.TB, dir string) (*ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := entitlement.Thumbprint(&key.PublicKey)
	jwks, err := entitlement.MarshalJWKS([]entitlement.PublicKey{{KID: kid, Alg: "ES256", Key: &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "operator-jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	return key, kid, file
}
