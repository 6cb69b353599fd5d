package entitlement_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

func TestSigner(t *testing.T) {
	clk := newClock()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := entitlement.SignerConfig{Dir: dir, Issuer: testIssuer, Audience: testAudience, Now: clk.Now}
	s, err := entitlement.NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, entitlement.SigningKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, fi.Mode())
	}
	// Reloading uses the same key.
	s2, err := entitlement.NewSigner(cfg)
	if err != nil || s2.KID() != s.KID() {
		t.Fatalf("reload: %v, kid %q vs %q", err, s2.KID(), s.KID())
	}
	// The published JWKS verifies the signer's tokens.
	pubs, err := entitlement.ParseJWKS(s.JWKS())
	if err != nil || len(pubs) != 1 || pubs[0].KID != s.KID() || pubs[0].Alg != "ES256" {
		t.Fatalf("JWKS %s: %v", s.JWKS(), err)
	}
	if strings.Contains(string(s.JWKS()), `"d"`) {
		t.Fatal("JWKS publishes the private key")
	}
	tok, err := s.Sign(entitlement.Claims{
		Subject: "u", ContentID: "c", DeviceID: "d", KIDs: []drm.KeyID{kidA}, TrackTypes: []keys.TrackType{keys.HD},
		PlaybackEnd: clk.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, entitlement.StaticKeys(pubs), clk, entitlement.AlgES256)
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "u" || c.ContentID != "c" || c.DeviceID != "d" || len(c.KIDs) != 1 || c.KIDs[0] != kidA ||
		len(c.TrackTypes) != 1 || c.TrackTypes[0] != keys.HD || c.ID == "" || !c.ExpiresAt.Equal(clk.Now().Add(30*time.Second)) ||
		!c.PlaybackEnd.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("claims %+v", c)
	}
	// The signer is itself a KeySource.
	if _, err := newVerifier(t, s, clk).Verify(context.Background(), tok); err != nil {
		t.Errorf("signer as key source: %v", err)
	}
	if _, err := s.Sign(entitlement.Claims{ContentID: "c"}); !errors.Is(err, entitlement.ErrClaims) {
		t.Errorf("no subject: %v", err)
	}
	// Minting is an entry point of content IDs: the keys rule holds.
	for _, cid := range []string{"../../x", "a/b", ".hidden", "a\x00b"} {
		if _, err := s.Sign(entitlement.Claims{Subject: "u", ContentID: cid}); !errors.Is(err, entitlement.ErrClaims) || !errors.Is(err, keys.ErrInvalidContentID) {
			t.Errorf("content %q: %v", cid, err)
		}
	}
	// Loose permissions are refused.
	if err := os.Chmod(filepath.Join(dir, entitlement.SigningKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := entitlement.NewSigner(cfg); !errors.Is(err, entitlement.ErrKeyFileMode) {
		t.Errorf("0644 key: %v, want ErrKeyFileMode", err)
	}
	// A corrupt key file is an error that does not echo its content.
	bad := filepath.Join(t.TempDir(), entitlement.SigningKeyFile)
	if err := os.WriteFile(bad, []byte("SECRETSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = entitlement.NewSigner(entitlement.SignerConfig{Dir: filepath.Dir(bad)})
	if !errors.Is(err, entitlement.ErrSigningKey) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("corrupt key: %v", err)
	}
}
