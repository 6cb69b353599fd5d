package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/awskms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/kms/pkcs11"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// KeyStore is an open key store with the KMS holding its KEK. KMS is the
// backend itself (readiness probes and KEK rotation are not traced); the
// store's own calls go through the server's tracing wrapper.
type KeyStore struct {
	*sqlstore.Store
	KMS      kms.Wrapper
	closeKMS func() error
}

// Close closes the store, then the KMS.
func (s *KeyStore) Close() error {
	err := s.Store.Close()
	if cerr := s.closeKMS(); err == nil {
		err = cerr
	}
	return err
}

// RotateKEK creates a new KEK version when the backend can (local, pkcs11);
// AWS KMS rotates by pointing its alias at a new key.
func (s *KeyStore) RotateKEK(ctx context.Context) (string, error) {
	switch k := s.KMS.(type) {
	case *local.KMS:
		return k.Rotate()
	case *pkcs11.Wrapper:
		return k.Rotate(ctx)
	}
	return "", fmt.Errorf("the %s KMS rotates by pointing its key alias at a new key; then run rewrap", s.KMS.Name())
}

// OpenKeyStore opens the configured KMS and key store, creating the data
// directory (0700) when needed.
func OpenKeyStore(ctx context.Context, cfg *config.Config) (*KeyStore, error) {
	return openKeyStore(ctx, cfg, nil)
}

// openKeyStore lets the server wrap the KMS (tracing, metrics).
func openKeyStore(ctx context.Context, cfg *config.Config, wrap func(kms.Wrapper) kms.Wrapper) (*KeyStore, error) {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.Server.DataDir, err)
	}
	w, closeKMS, err := openKMS(ctx, cfg.KMS)
	if err != nil {
		return nil, fmt.Errorf("KMS (%s): %w", cfg.KMS.Backend, err)
	}
	storeKMS := w
	if wrap != nil {
		storeKMS = wrap(w)
	}
	st, err := sqlstore.Open(ctx, cfg.Store.DSN, storeKMS)
	if err != nil {
		_ = closeKMS()
		return nil, fmt.Errorf("key store: %w", err)
	}
	return &KeyStore{Store: st, KMS: w, closeKMS: closeKMS}, nil
}

func openKMS(ctx context.Context, c config.KMSConfig) (kms.Wrapper, func() error, error) {
	noop := func() error { return nil }
	switch c.Backend {
	case config.KMSPKCS11:
		w, err := pkcs11.New(ctx, c.PKCS11)
		if err != nil {
			return nil, nil, err
		}
		return w, w.Close, nil
	case config.KMSAWS:
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
