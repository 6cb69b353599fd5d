package storage

import "errors"

// Sentinel errors of package storage. Errors name the location
// (s3://bucket/key or a path) and never carry credentials.
var (
	// ErrConfig is a missing or invalid S3 setting (region, credentials,
	// endpoint) or a malformed location.
	ErrConfig = errors.New("invalid storage configuration")
	// ErrNotFound is a missing object or bucket.
	ErrNotFound = errors.New("not found")
	// ErrAccess is a refusal by the store: bad credentials, a signature the
	// store does not accept, or no permission.
	ErrAccess = errors.New("access denied")
	// ErrNotEmpty refuses an output directory or prefix that holds files
	// drmpipe did not write.
	ErrNotEmpty = errors.New("output is not empty and was not written by drmpipe")
	// ErrOutputExists is a local output path that is not a directory.
	ErrOutputExists = errors.New("output path exists and is not a directory")
	// ErrOutputBusy is a local output another live run is writing.
	ErrOutputBusy = errors.New("another drmpipe run is writing this output")
	// ErrChanged is an input object replaced while it was being read.
	ErrChanged = errors.New("object changed while it was read")
	// ErrUnavailable is a store that cannot be reached or fails after
	// retries.
	ErrUnavailable = errors.New("object store unavailable")
)
