package entitlement

import "time"

// Defaults of RevocationSyncConfig.
const (
	// DefaultResyncInterval is how often a replica re-reads the durable
	// revocation log.
	DefaultResyncInterval = 5 * time.Second
	// DefaultResyncLookback is how far before the newest revocation already
	// read a re-sync reads again.
	DefaultResyncLookback = time.Minute
)

// RevocationSyncConfig configures how a replica keeps its revocation list
// in step with the durable log (the store's audit log, written before a
// revocation is applied anywhere).
type RevocationSyncConfig struct {
	// ResyncInterval is how often the durable log is re-read for
	// revocations this replica has not applied (made while Redis was down,
	// or by another replica or the CLI). 0 = DefaultResyncInterval.
	ResyncInterval time.Duration `koanf:"resync_interval" yaml:"resync_interval"`
}
