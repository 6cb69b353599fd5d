package speke

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

const (
	goodToken    = "tok-speke"
	licenseToken = "tok-license"
)

// tokenAuth is a bearer-token Authenticator: token -> scope.
type tokenAuth map[string]string

func (a tokenAuth) Authenticate(r *http.Request, scope string) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", ErrUnauthenticated
	}
	s, ok := a[tok]
	if !ok {
		return "", ErrUnauthenticated
	}
	if s != scope {
		return "", ErrForbidden
	}
	return "encryptor-" + tok, nil
}

// countingKeys records every key lookup.
type countingKeys struct {
	KeyGetter
	calls atomic.Int64
}

func (c *countingKeys) GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error) {
	c.calls.Add(1)
	return c.KeyGetter.GetOrCreate(ctx, contentID, t, period)
}

func (c *countingKeys) GetOrCreateKID(ctx context.Context, contentID string, kid drm.KeyID, t keys.TrackType, period uint32) (keys.ContentKey, error) {
	c.calls.Add(1)
	return c.KeyGetter.GetOrCreateKID(ctx, contentID, kid, t, period)
}

type env struct {
	h     http.Handler
	store *sqlstore.Store
	keys  *countingKeys
}

// newEnv starts a handler on the real SQLite key store with a local KMS in
// a temp dir.
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	w, err := local.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "keys.db"), w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ck := &countingKeys{KeyGetter: st}
	h := NewHandler(cfg, Deps{Keys: ck, Periods: st, Auth: tokenAuth{goodToken: Scope, licenseToken: "license-token"}})
	return &env{h: h, store: st, keys: ck}
}

func testConfig() Config {
	return Config{
		PlayReadyLAURL:       "https://pr.example.com/rightsmanager.asmx?a=1&b=2",
		ClearKeyLAURL:        "https://ck.example.com/license?x=1&y=2",
		FairPlayKeyURIPrefix: "skd://fps.example.com/{kid}",
		WidevineProvider:     "drmpipe_test",
	}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newRecipient makes a 2048-bit RSA key and a self-signed certificate.
func newRecipient(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "packager"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}
