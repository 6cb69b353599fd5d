package jobs

import "errors"

// Sentinel errors of package jobs.
var (
	// ErrConfig is an invalid jobs section of the configuration.
	ErrConfig = errors.New("invalid jobs configuration")
	// ErrInvalid is a job request that can never be packaged: a field out
	// of range, a malformed location. The message names the field.
	ErrInvalid = errors.New("invalid job")
	// ErrNotFound is a job ID no job has.
	ErrNotFound = errors.New("no such job")
	// ErrConflict is an idempotency key reused with a different request.
	ErrConflict = errors.New("idempotency key reused with a different request")
	// ErrNotRunning is a broker URL asked for a job no worker runs.
	ErrNotRunning = errors.New("job not running")
	// ErrNoDatabase is a queue opened without jobs.dsn.
	ErrNoDatabase = errors.New("jobs need a database: jobs.dsn")
	// ErrNoBroker is a jobs API without keys.broker_hmac_key: workers get
	// their keys only through the strict broker.
	ErrNoBroker = errors.New("jobs need keys.broker_hmac_key: workers get keys only through signed broker URLs")
)
