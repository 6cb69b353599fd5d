package sqlstore

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Defaults of Config.
const (
	// DefaultAuditRetention is 90 days.
	DefaultAuditRetention = 90 * 24 * time.Hour
	// DefaultAuditPruneInterval is how often drmpipe serve prunes.
	DefaultAuditPruneInterval = time.Hour
	// DefaultFileName is the SQLite file under the data directory.
	DefaultFileName = "keys.db"
)

// Config is the key store database: the store section of the
// configuration file.
type Config struct {
	// DSN is "sqlite:PATH" (or a bare path) for the embedded SQLite store,
	// or "postgres://user:password@host/db?sslmode=..." for PostgreSQL
	// (see Open). Empty means sqlite:<data_dir>/keys.db (ResolvePaths). The
	// password part is secret.
	DSN string `koanf:"dsn" yaml:"dsn" secret:"url"`
	// Audit is the audit log's retention policy.
	Audit AuditConfig `koanf:"audit" yaml:"audit"`
}

// AuditConfig is the retention of the audit log (Store.PruneAudit,
// AuditPruner). Only access and refusal rows (broker.fetch, broker.refuse)
// are ever deleted; revocations, which every replica restores from, and
// admin actions are kept forever.
type AuditConfig struct {
	// Retention is how long access and refusal rows are kept; 0 = forever.
	Retention time.Duration `koanf:"retention" yaml:"retention"`
	// PruneInterval is how often `drmpipe serve` deletes the rows past
	// Retention.
	PruneInterval time.Duration `koanf:"prune_interval" yaml:"prune_interval"`
}

// DefaultConfig is the built-in store configuration (DSN filled by
// ResolvePaths).
func DefaultConfig() Config {
	return Config{Audit: AuditConfig{Retention: DefaultAuditRetention, PruneInterval: DefaultAuditPruneInterval}}
}

// ResolvePaths fills an empty DSN with the SQLite file under dataDir.
func (c *Config) ResolvePaths(dataDir string) {
	if c.DSN == "" {
		c.DSN = "sqlite:" + filepath.Join(dataDir, DefaultFileName)
	}
}

// IsPostgres reports whether the DSN names PostgreSQL.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.DSN, "postgres://") || strings.HasPrefix(c.DSN, "postgresql://")
}

// Validate checks the DSN's form (it does not connect) and the retention,
// each problem under prefix + "." + its key (prefix is "store").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	switch {
	case c.IsPostgres():
		u, err := url.Parse(c.DSN)
		if err != nil || u.Host == "" {
			errs.Add(key("dsn"), "PostgreSQL DSN does not parse as postgres://user:password@host/db")
		}
	case strings.HasPrefix(c.DSN, "sqlite:"):
		if strings.TrimPrefix(c.DSN, "sqlite:") == "" {
			errs.Add(key("dsn"), "sqlite: needs a file path")
		}
	case strings.Contains(c.DSN, "://"):
		errs.Add(key("dsn"), "unsupported scheme (want sqlite:PATH, a file path, or postgres://...)")
	case c.DSN == "":
		errs.Add(key("dsn"), "must not be empty")
	}
	if c.Audit.Retention != 0 {
		errs.Duration(key("audit.retention"), c.Audit.Retention, time.Hour, 100*365*24*time.Hour)
	}
	errs.Duration(key("audit.prune_interval"), c.Audit.PruneInterval, time.Minute, 7*24*time.Hour)
	return errs.Err()
}
