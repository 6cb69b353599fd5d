// Package revocation is the one place a revocation is made and what it
// sets off: the rules a revocation meets (entitlement.Revocation.Normalize
// and the one ID rule), the key-state flip of a revoked KID, the durable
// audit record every replica restores and re-syncs its list from, the
// live list licenses are checked against, and the reactions on every
// replica (license cache purge, CDN purge webhooks, the revocation
// metric). The admin API and the drmpipe CLI both revoke through it.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license"
)

// KeyRevoker marks a content key revoked (compromised) in the key store,
// so the next packaging or rotation gets a new key.
type KeyRevoker interface {
	Revoke(ctx context.Context, kid drm.KeyID) error
}

// AuditLog is the store's audit log: the durable record of revocations.
type AuditLog interface {
	// Audit appends an entry.
	Audit(ctx context.Context, e apikey.Entry) error
	// AuditByAction returns the entries whose action is exactly one of
	// actions, at or after since (every one when since is zero), oldest
	// first, without a limit.
	AuditByAction(ctx context.Context, since time.Time, actions ...string) ([]apikey.Entry, error)
}

// CachePurger removes license cache entries (license.Cache).
type CachePurger interface {
	Purge(ctx context.Context, f license.PurgeFilter) (int, error)
}

// Metrics counts revocations applied on this replica.
type Metrics interface {
	ObserveRevocation(kind string)
}

// Config configures the reactions to a revocation.
type Config struct {
	// PurgeWebhooks are URLs POSTed (JSON {event, kind, value, at}) after
	// every revocation this replica applies (license.purge_webhooks).
	PurgeWebhooks []string
	// WebhookTimeout bounds one webhook call; 0 = DefaultWebhookTimeout.
	WebhookTimeout time.Duration
	// CloseGrace is how long Close lets webhook calls in flight finish
	// before it cancels them (server.shutdown_grace); 0 =
	// DefaultCloseGrace.
	CloseGrace time.Duration
}

// Deps are the Service's collaborators.
type Deps struct {
	// Keys flips the state of a revoked KID (required).
	Keys KeyRevoker
	// Audit is the durable record (required).
	Audit AuditLog
	// Live is this replica's revocation list; nil when the caller serves
	// nothing (the CLI): revocations are then recorded only, and every
	// server applies them at its next re-sync from the audit log.
	Live entitlement.Revocations
	// Cache, when not nil, loses the entries a revocation matches.
	Cache CachePurger
	// Metrics, when not nil, counts each revocation applied here.
	Metrics Metrics
	// Logger gets webhook and propagation warnings; nil = slog.Default.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Reach is how far a revocation got when Revoke returned.
type Reach uint8

// Reaches of a revocation.
const (
	// ReachAll: recorded and applied on every replica (shared state).
	ReachAll Reach = iota + 1
	// ReachThisReplica: recorded and applied here; the shared state was
	// down, so the other replicas apply it at their next re-sync.
	ReachThisReplica
	// ReachRecorded: recorded only (no live list: the CLI); every server
	// applies it at its next re-sync from the audit log.
	ReachRecorded
)

// Service makes revocations. Close it to unsubscribe from the live list
// and end webhook calls.
type Service struct {
	deps     Deps
	webhooks *purgeWebhooks
	cancel   func() // unsubscribes from Live
}

// New checks deps and, with a live list, subscribes the reactions to it:
// they run for every revocation this replica applies, whether taken here,
// received from another replica or learned from the audit log.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Keys == nil || deps.Audit == nil {
		return nil, fmt.Errorf("%w: a key store and an audit log are required", ErrConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Service{deps: deps, cancel: func() {}}
	if len(cfg.PurgeWebhooks) > 0 {
		w, err := newPurgeWebhooks(cfg, deps.Logger)
		if err != nil {
			return nil, err
		}
		s.webhooks = w
	}
	if deps.Live != nil {
		s.cancel = deps.Live.Subscribe(s.react)
	}
	return s, nil
}

// Revoke makes a revocation: it normalizes rev (canonical KID, time of the
// revocation), marks a revoked KID's key revoked in the key store, writes
// the audit record first (the durable record every replica restores and
// re-syncs from: a revocation it cannot record is refused, not applied on
// this replica only), then applies it to the live list. It returns the
// revocation as recorded and how far it got. Errors wrap ErrInvalid,
// ErrNotRecorded, ErrNotApplied or the key store's error.
func (s *Service) Revoke(ctx context.Context, rev entitlement.Revocation) (entitlement.Revocation, Reach, error) {
	rev, err := rev.Normalize(s.deps.Now())
	if err != nil {
		return rev, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	entry, err := auditEntry(rev)
	if err != nil {
		return rev, 0, err
	}
	if rev.Kind == entitlement.RevokeKID {
		kid, err := drm.ParseKeyID(rev.Value)
		if err != nil {
			return rev, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if err := s.deps.Keys.Revoke(ctx, kid); err != nil {
			return rev, 0, fmt.Errorf("mark key %s revoked: %w", kid, err)
		}
	}
	if err := s.deps.Audit.Audit(ctx, entry); err != nil {
		if errors.Is(err, apikey.ErrInvalid) {
			return rev, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return rev, 0, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	if s.deps.Live == nil {
		return rev, ReachRecorded, nil
	}
	err = s.deps.Live.Revoke(ctx, rev)
	switch {
	case errors.Is(err, entitlement.ErrNotPropagated):
		s.deps.Logger.Warn("revocation recorded and applied on this replica; the others apply it at their next re-sync from the audit log",
			"kind", rev.Kind.String(), "error", err.Error())
		return rev, ReachThisReplica, nil
	case err != nil:
		return rev, 0, fmt.Errorf("%w: %w", ErrNotApplied, err)
	}
	return rev, ReachAll, nil
}

// react is what a revocation applied on this replica sets off.
func (s *Service) react(r entitlement.Revocation) {
	if s.deps.Metrics != nil {
		s.deps.Metrics.ObserveRevocation(r.Kind.String())
	}
	s.purgeCache(r)
	if s.webhooks != nil {
		s.webhooks.notify(r)
	}
}

// purgeCache removes the license cache entries of a revoked user, device
// or token: entries are tagged by those (license.PurgeFilter), not by KID.
func (s *Service) purgeCache(r entitlement.Revocation) {
	var f license.PurgeFilter
	switch r.Kind {
	case entitlement.RevokeUser:
		f.User = r.Value
	case entitlement.RevokeDevice:
		f.Device = r.Value
	case entitlement.RevokeToken:
		f.JTI = r.Value
	default:
		return
	}
	if s.deps.Cache == nil {
		return
	}
	if _, err := s.deps.Cache.Purge(context.Background(), f); err != nil {
		s.deps.Logger.Warn("license cache purge after revocation failed", "error", err.Error())
	}
}

// Close stops reacting to revocations and ends webhook calls: those in
// flight get Config.CloseGrace to finish, then are cancelled. Close waits
// for every one.
func (s *Service) Close() error {
	s.cancel()
	if s.webhooks != nil {
		s.webhooks.close()
	}
	return nil
}
