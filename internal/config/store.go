package config

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// StoreConfig is the key store database (package keys/sqlstore).
type StoreConfig struct {
	// DSN is "sqlite:PATH" (or a bare path) for the embedded SQLite store,
	// or "postgres://user:password@host/db?sslmode=..." for PostgreSQL.
	// Empty means sqlite:<data_dir>/keys.db. The password part is secret.
	DSN string `koanf:"dsn" yaml:"dsn" secret:"url"`
	// Audit is the audit log's retention policy.
	Audit AuditConfig `koanf:"audit" yaml:"audit"`
}

// AuditConfig is the retention of the audit log (package keys/sqlstore,
// Store.PruneAudit). Only access and refusal rows (broker.fetch,
// broker.refuse) are ever deleted; revocations, which every replica
// restores from, and admin actions are kept forever.
type AuditConfig struct {
	// Retention is how long access and refusal rows are kept; 0 = forever.
	Retention time.Duration `koanf:"retention" yaml:"retention"`
	// PruneInterval is how often `drmpipe serve` deletes the rows past
	// Retention.
	PruneInterval time.Duration `koanf:"prune_interval" yaml:"prune_interval"`
}

// DefaultAuditRetention is 90 days.
const DefaultAuditRetention = 90 * 24 * time.Hour

func defaultStore() StoreConfig {
	return StoreConfig{Audit: AuditConfig{Retention: DefaultAuditRetention, PruneInterval: time.Hour}}
}

// IsPostgres reports whether the DSN names PostgreSQL.
func (c StoreConfig) IsPostgres() bool {
	return strings.HasPrefix(c.DSN, "postgres://") || strings.HasPrefix(c.DSN, "postgresql://")
}

func (c *StoreConfig) resolve(dataDir string) {
	if c.DSN == "" {
		c.DSN = "sqlite:" + filepath.Join(dataDir, "keys.db")
	}
}

// Validate checks the DSN's form (it does not connect).
func (c StoreConfig) Validate() error {
	var errs errList
	switch {
	case c.IsPostgres():
		u, err := url.Parse(c.DSN)
		if err != nil || u.Host == "" {
			errs.add("store.dsn", "PostgreSQL DSN does not parse as postgres://user:password@host/db")
		}
	case strings.HasPrefix(c.DSN, "sqlite:"):
		if strings.TrimPrefix(c.DSN, "sqlite:") == "" {
			errs.add("store.dsn", "sqlite: needs a file path")
		}
	case strings.Contains(c.DSN, "://"):
		errs.add("store.dsn", "unsupported scheme (want sqlite:PATH, a file path, or postgres://...)")
	case c.DSN == "":
		errs.add("store.dsn", "must not be empty")
	}
	if c.Audit.Retention != 0 {
		checkDuration(&errs, "store.audit.retention", c.Audit.Retention, time.Hour, 100*365*24*time.Hour)
	}
	checkDuration(&errs, "store.audit.prune_interval", c.Audit.PruneInterval, time.Minute, 7*24*time.Hour)
	return errs.err()
}

// maskURLPassword replaces the password of a URL's user info with Mask;
// a URL that does not parse is masked whole.
func maskURLPassword(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Mask
	}
	// The user info password and the password parameters are masked
	// together: a DSN may carry both (libpq's sslpassword next to the
	// user's password).
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "MASKED")
			changed = true
		}
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "MASKED")
			u.RawQuery = q.Encode()
			changed = true
		}
	}
	if changed {
		return strings.ReplaceAll(u.String(), "MASKED", Mask)
	}
	return s
}
