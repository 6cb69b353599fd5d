package speke

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/testtools"
	"github.com/drmpipe/drmpipe/internal/testtools/teststore"
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
	st := teststore.Open(t)
	ck := &countingKeys{KeyGetter: st}
	h := NewHandler(cfg, Deps{Keys: ck, Periods: st, Auth: tokenAuth{goodToken: Scope, licenseToken: "license-token"}})
	return &env{h: h, store: st, keys: ck}
}

// storedKey is the key store's record of contentID's key kid; a failed
// read fails t.
func (e *env) storedKey(t testing.TB, contentID string, kid drm.KeyID) keys.StoredKey {
	t.Helper()
	k, err := e.store.GetByContent(context.Background(), contentID, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
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
	return testtools.SelfSignedRSA(t, "packager")
}
