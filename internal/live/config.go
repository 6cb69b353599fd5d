package live

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// ErrConfig is an invalid live section of the configuration.
var ErrConfig = errors.New("invalid live configuration")

// ServeConfig is the live section of the configuration: where channels
// are published and how replicas share them (lease.go).
type ServeConfig struct {
	// Dir holds one directory per channel (published segments and
	// manifests, and the holders' working files). Replicas that share
	// channels share it (a shared file system). Empty = <data_dir>/live.
	Dir string `koanf:"dir" yaml:"dir"`
	// ReplicaID names this replica in channel leases; empty = the host
	// name. Replicas sharing one host need IDs of their own.
	ReplicaID string `koanf:"replica_id" yaml:"replica_id"`
	// LeaseTTL is how long a channel lease lasts unless renewed (every
	// third of it while ingest goes on): another replica takes over a dead
	// holder's channel within it.
	LeaseTTL time.Duration `koanf:"lease_ttl" yaml:"lease_ttl"`
}

// DefaultServeConfig is the built-in live section.
func DefaultServeConfig() ServeConfig { return ServeConfig{LeaseTTL: DefaultLeaseTTL} }

// DirName is the live output directory under the data directory.
const DirName = "live"

// ResolvePaths fills an empty Dir from the data directory.
func (c *ServeConfig) ResolvePaths(dataDir string) {
	if c.Dir == "" {
		c.Dir = filepath.Join(dataDir, DirName)
	}
}

// Validate checks every key, each problem under prefix + "." + its key
// (prefix is "live").
func (c ServeConfig) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	if c.ReplicaID != "" && !ReplicaIDRE.MatchString(c.ReplicaID) {
		errs.Add(confcheck.Key(prefix, "replica_id"), "%q: want 1 to 128 of A-Z a-z 0-9 _ . : @ - (starting with a letter, digit or _)", c.ReplicaID)
	}
	if c.LeaseTTL < 3*time.Second || c.LeaseTTL > time.Minute {
		errs.Add(confcheck.Key(prefix, "lease_ttl"), "%s: want 3s to 1m", c.LeaseTTL)
	}
	return errs.Err()
}
