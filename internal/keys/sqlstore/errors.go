package sqlstore

import "errors"

// Sentinel errors of package sqlstore.
var (
	// ErrDSN reports a DSN naming no backend this build supports.
	ErrDSN = errors.New("sqlstore: unsupported DSN")
	// ErrNoKMS reports a store opened without a KMS wrapper.
	ErrNoKMS = errors.New("sqlstore: no KMS")
	// ErrKMSMismatch reports a key wrapped by another KMS backend than the
	// one the store was opened with.
	ErrKMSMismatch = errors.New("sqlstore: key wrapped by another KMS")
	// ErrCorruptRow reports a row whose columns do not decode.
	ErrCorruptRow = errors.New("sqlstore: corrupt key row")
	// ErrMigrate reports a failed schema migration.
	ErrMigrate = errors.New("sqlstore: migration failed")
	// ErrUnavailable reports a database that does not answer (Ping).
	ErrUnavailable = errors.New("sqlstore: database unavailable")
	// ErrConfig reports a bad store setting (Config.Validate).
	ErrConfig = errors.New("sqlstore: invalid configuration")
)

// Sentinel errors of the live channel table.
var (
	// ErrChannelExists reports a create of a channel name already in use.
	ErrChannelExists = errors.New("sqlstore: channel already exists")
	// ErrChannelNotFound reports an unknown channel name.
	ErrChannelNotFound = errors.New("sqlstore: channel not found")
)

// Sentinel errors of the live channel leases.
var (
	// ErrLeaseHeld reports an acquisition of a lease another replica holds
	// and has not let expire.
	ErrLeaseHeld = errors.New("sqlstore: channel lease held by another replica")
	// ErrLeaseLost reports a renewal or fenced write whose fencing token is
	// no longer the lease's: another replica took the channel over.
	ErrLeaseLost = errors.New("sqlstore: channel lease lost")
)
