// Package keystore opens the configured key store: the content-key store
// (keys/sqlstore, SQLite or PostgreSQL) with the KMS backend that holds its
// key-encryption key (keys/kms/{local,pkcs11,awskms}). `drmpipe serve` and
// every command that reads or writes keys open it here.
package keystore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/awskms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/kms/pkcs11"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// Config is where the store and its KEK are.
type Config struct {
	// DataDir is created (0700) when missing (server.data_dir).
	DataDir string
	// DSN is the store's data source (store.dsn; sqlstore.Open).
	DSN string
	// KMS chooses the backend holding the KEK (kms.*).
	KMS KMSConfig
	// WrapKMS, when set, decorates the backend for the store's own calls
	// (tracing and metrics in `drmpipe serve`); KeyStore.KMS stays the
	// backend itself.
	WrapKMS func(kms.Wrapper) kms.Wrapper
}

// KeyStore is an open key store with the KMS holding its KEK. KMS is the
// backend itself (readiness probes and KEK rotation are not traced); the
// store's own calls go through Config.WrapKMS.
type KeyStore struct {
	*sqlstore.Store
	KMS      kms.Wrapper
	closeKMS func() error
}

// Open opens the configured KMS and key store, creating the data directory
// (0700) when needed.
func Open(ctx context.Context, cfg Config) (*KeyStore, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	w, closeKMS, err := openKMS(ctx, cfg.KMS)
	if err != nil {
		return nil, fmt.Errorf("KMS (%s): %w", cfg.KMS.Backend, err)
	}
	storeKMS := w
	if cfg.WrapKMS != nil {
		storeKMS = cfg.WrapKMS(w)
	}
	st, err := sqlstore.Open(ctx, cfg.DSN, storeKMS)
	if err != nil {
		_ = closeKMS()
		return nil, fmt.Errorf("key store: %w", err)
	}
	return &KeyStore{Store: st, KMS: w, closeKMS: closeKMS}, nil
}

// Close closes the store, then the KMS.
func (s *KeyStore) Close() error {
	err := s.Store.Close()
	if cerr := s.closeKMS(); err == nil {
		err = cerr
	}
	return err
}

// RotateKEK creates a new KEK version when the backend can (kms.Rotator:
// local, pkcs11); AWS KMS rotates by pointing its alias at a new key.
func (s *KeyStore) RotateKEK(ctx context.Context) (string, error) {
	if r, ok := s.KMS.(kms.Rotator); ok {
		return r.RotateKEK(ctx)
	}
	return "", fmt.Errorf("%w: the %s KMS rotates by pointing its key alias at a new key; then run rewrap", kms.ErrNoRotation, s.KMS.Name())
}

// CheckKMS proves the KMS answers by wrapping and unwrapping a throw-away
// key (the readiness check of `drmpipe serve`).
func (s *KeyStore) CheckKMS(ctx context.Context) error {
	var kid drm.KeyID
	probe := make([]byte, 16)
	w, ref, err := s.KMS.Wrap(ctx, kid, "drmpipe-readiness", probe)
	if err != nil {
		return err
	}
	_, err = s.KMS.Unwrap(ctx, kid, "drmpipe-readiness", w, ref)
	return err
}

func openKMS(ctx context.Context, c KMSConfig) (kms.Wrapper, func() error, error) {
	noop := func() error { return nil }
	switch KMSBackend(strings.ToLower(string(c.Backend))) {
	case KMSPKCS11:
		w, err := pkcs11.New(ctx, c.PKCS11)
		if err != nil {
			return nil, nil, err
		}
		return w, w.Close, nil
	case KMSAWS:
		w, err := awskms.New(ctx, c.AWSKMS)
		if err != nil {
			return nil, nil, err
		}
		return w, noop, nil
	default:
		if err := os.MkdirAll(filepath.Dir(c.Local.KEKFile), 0o700); err != nil {
			return nil, nil, err
		}
		k, err := local.Open(c.Local.KEKFile)
		if err != nil {
			return nil, nil, err
		}
		return k, noop, nil
	}
}
