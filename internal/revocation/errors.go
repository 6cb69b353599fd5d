package revocation

import "errors"

// Sentinel errors of Service.Revoke. Errors of the key store (a revoked
// KID the store does not hold: keys.ErrKeyNotFound) are passed through.
var (
	// ErrInvalid: the revocation breaks a rule (unknown kind, a value
	// outside the ID rule, a malformed KID, by or reason too long) or the
	// audit log refuses its record. Permanent: retrying cannot help.
	ErrInvalid = errors.New("revocation refused")
	// ErrNotRecorded: the audit log could not be written; the revocation
	// was not applied anywhere.
	ErrNotRecorded = errors.New("revocation not recorded: audit log unavailable")
	// ErrNotApplied: the revocation is in the audit log but the live list
	// refused it; every replica applies it at its next re-sync.
	ErrNotApplied = errors.New("revocation recorded but not applied")
	// ErrConfig: the service's configuration or dependencies are invalid.
	ErrConfig = errors.New("invalid revocation service configuration")
	// ErrAuditRecord: an audit entry of a revocation action cannot be read
	// back as a revocation.
	ErrAuditRecord = errors.New("malformed revocation audit record")
)
