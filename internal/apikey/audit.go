package apikey

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// Bounds of audit entries.
const (
	MaxAuditField  = 256  // Actor, Action, Target
	MaxAuditDetail = 4096 // Detail
	// DefaultAuditLimit and MaxAuditLimit bound ListAudit.
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Entry is one audit record: who (Actor, e.g. Key.Principal() or
// "cli:root"), did what (Action, e.g. "apikey.revoke", "key.revoke"), to
// what (Target, e.g. an API key ID or KID), when, with free-form Detail.
// Entries must never hold key material or tokens.
type Entry struct {
	Actor  string
	Action string
	Target string
	// At defaults to the time Audit is called; stored with microsecond
	// precision, returned in UTC.
	At     time.Time
	Detail string
}

// AuditQuery selects entries for ListAudit. Zero fields match everything.
type AuditQuery struct {
	Actor  string
	Target string
	// Since keeps entries at or after this time.
	Since time.Time
	// Limit caps the result (DefaultAuditLimit if 0, at most MaxAuditLimit).
	Limit int
}

// AuditLog records admin actions. *sqlstore.Store implements it.
type AuditLog interface {
	// Audit appends an entry.
	Audit(ctx context.Context, e Entry) error
	// ListAudit returns matching entries, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]Entry, error)
}

// ValidateEntry checks an entry before it is stored: Actor and Action are
// required, every field is bounded, valid UTF-8 and free of NUL.
func ValidateEntry(e Entry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("%w: audit entry needs an actor and an action", ErrInvalid)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"actor", e.Actor, MaxAuditField}, {"action", e.Action, MaxAuditField}, {"target", e.Target, MaxAuditField}, {"detail", e.Detail, MaxAuditDetail}} {
		if len(f.v) > f.max || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: audit %s must be at most %d bytes of UTF-8", ErrInvalid, f.name, f.max)
		}
		for i := 0; i < len(f.v); i++ {
			if f.v[i] == 0 {
				return fmt.Errorf("%w: audit %s has a NUL byte", ErrInvalid, f.name)
			}
		}
	}
	return nil
}

// EffectiveLimit returns the effective limit of q.
func (q AuditQuery) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultAuditLimit
	case q.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return q.Limit
}
