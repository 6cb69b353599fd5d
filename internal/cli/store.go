package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// dataFlags locate the data directory and the key store, shared by every
// command that touches keys (package --content-id, keys, serve, ...).
type dataFlags struct {
	dataDir string
	store   string
}

func (d *dataFlags) register(fl *pflag.FlagSet) {
	def := os.Getenv("DRMPIPE_DATA")
	if def == "" {
		def = "drmpipe-data"
	}
	fl.StringVar(&d.dataDir, "data", def, "data directory (key store, key-encryption key, signing key, content); env DRMPIPE_DATA")
	fl.StringVar(&d.store, "store", os.Getenv("DRMPIPE_STORE"), "key store DSN: sqlite:PATH or postgres://... (default: SQLite file in the data directory); env DRMPIPE_STORE")
}

func (d *dataFlags) dsn() string {
	if d.store != "" {
		return d.store
	}
	return "sqlite:" + filepath.Join(d.dataDir, "drmpipe.db")
}

// openStore opens the key store with the local KMS (a KEK file in the data
// directory, created 0600 on first use).
func (d *dataFlags) openStore(ctx context.Context) (*sqlstore.Store, *local.KMS, error) {
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data directory %s: %w", d.dataDir, err)
	}
	k, err := local.OpenDir(d.dataDir)
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlstore.Open(ctx, d.dsn(), k)
	if err != nil {
		return nil, nil, err
	}
	return st, k, nil
}
