package jobs

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Defaults of Config.
const (
	DefaultMaxAttempts = 5
	DefaultTimeout     = time.Hour
)

// Config is the jobs section: where River keeps its queue and how jobs
// run.
type Config struct {
	// DSN is the database of the job queue: PostgreSQL
	// (postgres://user:password@host/db) or an embedded SQLite file
	// (sqlite:PATH, one machine). Empty = store.dsn when that is
	// PostgreSQL, else sqlite:<data_dir>/jobs.db. Workers need only this
	// one, never the key store's. The password part is secret.
	DSN string `koanf:"dsn" yaml:"dsn" secret:"url"`
	// MaxAttempts is how often a job runs before it fails for good
	// (transient errors only; bad input fails at once).
	MaxAttempts int `koanf:"max_attempts" yaml:"max_attempts"`
	// Timeout bounds one attempt.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// RescueAfter is how long a job may stay running before River's
	// rescuer hands it to another worker (its worker died); 0 = Timeout +
	// 1 minute. At least Timeout.
	RescueAfter time.Duration `koanf:"rescue_after" yaml:"rescue_after"`
}

// DefaultConfig is the built-in jobs configuration.
func DefaultConfig() Config {
	return Config{MaxAttempts: DefaultMaxAttempts, Timeout: DefaultTimeout}
}

// ResolveDSN fills an empty DSN: the store's when that is PostgreSQL, else
// the embedded file under dataDir.
func (c *Config) ResolveDSN(storeDSN, dataDir string) {
	switch {
	case c.DSN != "":
	case isPostgres(storeDSN):
		c.DSN = storeDSN
	default:
		c.DSN = sqlitePrefix + filepath.Join(dataDir, EmbeddedFileName)
	}
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// rescueAfter is RescueAfter with its default applied.
func (c Config) rescueAfter() time.Duration {
	if c.RescueAfter > 0 {
		return c.RescueAfter
	}
	return c.Timeout + time.Minute
}

// Validate checks every key, each problem under prefix + "." + its key
// (prefix is "jobs").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	switch {
	case c.DSN == "":
	case strings.HasPrefix(c.DSN, sqlitePrefix):
		if c.DSN == sqlitePrefix {
			errs.Add(key("dsn"), "sqlite: needs a file path")
		}
	default:
		u, err := url.Parse(c.DSN)
		if !isPostgres(c.DSN) || err != nil || u.Host == "" {
			errs.Add(key("dsn"), "want postgres://user:password@host/db or sqlite:PATH")
		}
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs.Add(key("max_attempts"), "%d: want 1..100", c.MaxAttempts)
	}
	errs.Duration(key("timeout"), c.Timeout, time.Second, 48*time.Hour)
	if c.RescueAfter != 0 && c.RescueAfter < c.Timeout {
		errs.Add(key("rescue_after"), "%s: at least jobs.timeout (%s), or 0", c.RescueAfter, c.Timeout)
	}
	return errs.Err()
}
