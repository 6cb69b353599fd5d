package revocation

import (
	"context"
	"fmt"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// Action is the audit action that records a revocation of one kind: a
// closed set, one value per entitlement.RevocationKind. The durable log
// selects revocations by exactly these values (never by a name pattern),
// so another action that merely starts with "revoke." is never read as a
// revocation, and an unknown one never stops a replica from restoring.
type Action string

// The revocation actions of the audit log.
const (
	ActionRevokeUser   Action = "revoke.user"
	ActionRevokeDevice Action = "revoke.device"
	ActionRevokeToken  Action = "revoke.token"
	ActionRevokeKID    Action = "revoke.kid"
)

var actionKinds = map[Action]entitlement.RevocationKind{
	ActionRevokeUser:   entitlement.RevokeUser,
	ActionRevokeDevice: entitlement.RevokeDevice,
	ActionRevokeToken:  entitlement.RevokeToken,
	ActionRevokeKID:    entitlement.RevokeKID,
}

// ActionOf returns the audit action of kind; false for an unknown kind.
func ActionOf(kind entitlement.RevocationKind) (Action, bool) {
	for a, k := range actionKinds {
		if k == kind {
			return a, true
		}
	}
	return "", false
}

// Actions lists every revocation action, for the durable log's query.
func Actions() []string {
	// Fixed order: the query text stays the same from call to call.
	return []string{string(ActionRevokeUser), string(ActionRevokeDevice), string(ActionRevokeToken), string(ActionRevokeKID)}
}

// Every ID a revocation may name fits the audit log's target field, so a
// valid revocation is never refused by the audit log as too long (which
// would be a permanent error reported as a retryable one). Compiles only
// while MaxSubjectIDBytes <= MaxAuditField.
var _ [apikey.MaxAuditField - entitlement.MaxSubjectIDBytes]struct{}

// auditEntry is the audit record of a normalized revocation: who (Actor),
// its typed action, the value (Target), when and why (Detail).
func auditEntry(r entitlement.Revocation) (apikey.Entry, error) {
	a, ok := ActionOf(r.Kind)
	if !ok {
		return apikey.Entry{}, fmt.Errorf("%w: unknown kind %d", ErrInvalid, r.Kind)
	}
	return apikey.Entry{Actor: r.By, Action: string(a), Target: r.Value, At: r.At, Detail: r.Reason}, nil
}

// fromAuditEntry reads a revocation back from its audit record.
func fromAuditEntry(e apikey.Entry) (entitlement.Revocation, error) {
	kind, ok := actionKinds[Action(e.Action)]
	if !ok {
		return entitlement.Revocation{}, fmt.Errorf("%w: audit entry %s %s at %s", ErrAuditRecord, e.Action, e.Target, e.At.Format(time.RFC3339))
	}
	return entitlement.Revocation{Kind: kind, Value: e.Target, By: e.Actor, Reason: e.Detail, At: e.At}, nil
}

// RevocationsSince implements entitlement.RevocationLog over the audit
// log: the durable record every replica restores its list from at startup
// and re-syncs from while running.
func (s *Service) RevocationsSince(ctx context.Context, since time.Time) ([]entitlement.Revocation, error) {
	entries, err := s.deps.Audit.AuditByAction(ctx, since, Actions()...)
	if err != nil {
		return nil, err
	}
	rs := make([]entitlement.Revocation, 0, len(entries))
	for _, e := range entries {
		r, err := fromAuditEntry(e)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// List returns every recorded revocation, oldest first (the admin API's
// list): the durable record, the same on every replica.
func (s *Service) List(ctx context.Context) ([]entitlement.Revocation, error) {
	return s.RevocationsSince(ctx, time.Time{})
}
