package keystore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/kms/pkcs11"
)

// Both backends that rotate their KEK themselves offer the capability.
var (
	_ kms.Rotator = (*local.KMS)(nil)
	_ kms.Rotator = (*pkcs11.Wrapper)(nil)
)

// noRotation is a KMS that rotates outside drmpipe (as AWS KMS does).
type noRotation struct{ kms.Wrapper }

func (noRotation) Name() string { return "awskms" }

// TestOpenRotateAndCheck: the configured store opens in a new data
// directory, its KMS answers the readiness probe, a local KEK rotates
// through kms.Rotator and keys stay readable; a KMS without the capability
// is refused with kms.ErrNoRotation, naming the backend.
func TestOpenRotateAndCheck(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := keystore.Config{DataDir: dir, DSN: "sqlite:" + filepath.Join(dir, "keys.db"),
		KMS: keystore.KMSConfig{Backend: keystore.KMSLocal, Local: local.Config{KEKFile: filepath.Join(dir, "kek", "kek.json")}}}
	var wrapped int
	cfg.WrapKMS = func(w kms.Wrapper) kms.Wrapper { wrapped++; return w }
	ks, err := keystore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if wrapped != 1 {
		t.Errorf("WrapKMS called %d times, want 1", wrapped)
	}
	if err := ks.CheckKMS(ctx); err != nil {
		t.Fatalf("CheckKMS: %v", err)
	}
	k, err := ks.GetOrCreate(ctx, "movie1", keys.All, 0)
	if err != nil {
		t.Fatal(err)
	}
	before, err := ks.KMS.(kms.Versioned).CurrentKeyRef(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ks.RotateKEK(ctx)
	if err != nil || ref == "" || ref == before {
		t.Fatalf("RotateKEK: %q, %v (before %q)", ref, err, before)
	}
	if n, err := ks.Rewrap(ctx); err != nil || n != 1 {
		t.Fatalf("Rewrap: %d, %v", n, err)
	}
	got, err := ks.Get(ctx, k.KID)
	if err != nil || string(got.Key.Key) != string(k.Key) {
		t.Fatalf("key after rotation: %v", err)
	}

	other := &keystore.KeyStore{Store: ks.Store, KMS: noRotation{ks.KMS}}
	_, err = other.RotateKEK(ctx)
	if !errors.Is(err, kms.ErrNoRotation) || !strings.Contains(err.Error(), "awskms") {
		t.Fatalf("RotateKEK without the capability: %v, want kms.ErrNoRotation naming awskms", err)
	}
}
