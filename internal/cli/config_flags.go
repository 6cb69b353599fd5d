package cli

import (
	"context"
	"os"

	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
)

// configFlags load the one configuration (file < env < flags, see
// docs/config.md) for every command that touches the data directory, the
// key store or the server. --data, --store and --listen are short aliases
// of server.data-dir, store.dsn and server.listen.
type configFlags struct {
	fs   *pflag.FlagSet
	file string
}

func (c *configFlags) register(fl *pflag.FlagSet) {
	c.fs = fl
	fl.StringVar(&c.file, "config", os.Getenv("DRMPIPE_CONFIG"), "configuration file (YAML, docs/config.md); env DRMPIPE_CONFIG")
	config.RegisterFlags(fl)
	fl.String("data", "", "data directory (alias of --server.data-dir)")
	fl.String("store", "", "key store DSN sqlite:PATH or postgres://... (alias of --store.dsn)")
	fl.String("listen", "", "listen address (alias of --server.listen)")
	fl.Bool("demo", false, "demo mode (alias of --server.demo)")
}

var aliases = map[string]string{"data": "server.data-dir", "store": "store.dsn", "listen": "server.listen", "demo": "server.demo"}

// load resolves the configuration. It does not validate the server-only
// parts; serve and config check use loadValid.
func (c *configFlags) load() (*config.Config, error) {
	for alias, key := range aliases {
		if f := c.fs.Lookup(alias); f != nil && f.Changed {
			if err := c.fs.Set(key, f.Value.String()); err != nil {
				return nil, err
			}
		}
	}
	return config.Load(c.file, nil, c.fs)
}

// loadValid resolves the configuration and validates all of it, the
// server-only parts included (serve, config check).
func (c *configFlags) loadValid() (*config.Config, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// openStore loads the configuration and opens its key store and KMS.
func (c *configFlags) openStore(ctx context.Context) (*keystore.KeyStore, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	return keystore.Open(ctx, cfg.KeyStore())
}

// withStore opens the configured key store, runs fn with it and closes it.
func (c *configFlags) withStore(ctx context.Context, fn func(*keystore.KeyStore) error) error {
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}
