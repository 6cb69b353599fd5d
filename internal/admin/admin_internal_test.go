package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/revocation"
)

// TestRevocationRecordedBeforeApplied: the audit log is the durable record
// of a revocation (restored at startup), so a revocation it cannot record
// is refused with 503 and not applied; one it records is applied.
func TestRevocationRecordedBeforeApplied(t *testing.T) {
	ctx := context.Background()
	revs := entitlement.NewMemoryRevocations(nil)
	var recorded []apikey.Entry
	auditErr := errors.New("database is locked")
	h := adminWithAudit(t, revs, func(_ context.Context, e apikey.Entry) error {
		if auditErr != nil {
			return auditErr
		}
		recorded = append(recorded, e)
		return nil
	})
	rev := entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "apikey:ops", Reason: "fraud"}

	_, _, err := h.apply(ctx, rev)
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("apply with the audit log down: %v, want a 503", err)
	}
	if revoked, _ := revs.IsRevoked(ctx, entitlement.RevokeUser, "mallory"); revoked {
		t.Error("a revocation the audit log did not record was applied")
	}

	auditErr = nil
	if _, status, err := h.apply(ctx, rev); err != nil || status != http.StatusOK {
		t.Fatalf("apply: %d %v", status, err)
	}
	if revoked, _ := revs.IsRevoked(ctx, entitlement.RevokeUser, "mallory"); !revoked {
		t.Error("recorded revocation not applied")
	}
	if len(recorded) != 1 || recorded[0].Action != "revoke.user" || recorded[0].Target != "mallory" || recorded[0].Actor != "apikey:ops" || recorded[0].Detail != "fraud" {
		t.Errorf("audit entries %+v", recorded)
	}
}

// TestRevocationRefusedByAuditIsPermanent: a revocation the audit log
// refuses as malformed (apikey.ErrInvalid) is a 400, not a retryable 503.
func TestRevocationRefusedByAuditIsPermanent(t *testing.T) {
	h := adminWithAudit(t, entitlement.NewMemoryRevocations(nil), func(_ context.Context, e apikey.Entry) error {
		return apikey.ValidateEntry(apikey.Entry{Actor: e.Actor})
	})
	_, _, err := h.apply(context.Background(), entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "apikey:ops"})
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != httperr.CodeInvalidRequest {
		t.Fatalf("apply refused by the audit log: %v, want a 400 invalid_request", err)
	}
}

// auditFunc is an audit log whose writes fn answers (a failing or refusing
// store); it holds no revocations to read back.
type auditFunc func(ctx context.Context, e apikey.Entry) error

func (f auditFunc) Audit(ctx context.Context, e apikey.Entry) error { return f(ctx, e) }

func (auditFunc) AuditByAction(context.Context, time.Time, ...string) ([]apikey.Entry, error) {
	return nil, nil
}

// noKeys is a key store without keys (these tests revoke users only).
type noKeys struct{}

func (noKeys) Revoke(context.Context, drm.KeyID) error { return keys.ErrKeyNotFound }

// adminWithAudit is the admin API over the revocation service with live
// list revs and an audit log answered by audit.
func adminWithAudit(t *testing.T, revs entitlement.Revocations, audit auditFunc) *adminHandlers {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := revocation.New(revocation.Config{}, revocation.Deps{Keys: noKeys{}, Audit: audit, Live: revs, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &adminHandlers{revocations: svc, log: log}
}
