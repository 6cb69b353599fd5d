package entitlement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrReplayUnknown is the refusal of a use-limited token during an outage of
// the shared state: the token was issued before the outage and this replica
// has never counted it, so its uses so far are unknown (retryable: a fresh
// token, or the shared state coming back, answers it).
var ErrReplayUnknown = errors.New("token uses unknown while the shared state is down")

// SharedState decorates the shared (Redis) device registry and replay
// counter with this replica's memory, so that licenses keep being issued
// while the shared state does not answer. /readyz reports the outage
// meanwhile. The outage policy (README "Entitlement"):
//
//   - device limits fall back to this replica's memory: they hold per
//     replica until the shared state is back;
//   - token uses (max_uses) never start again from zero. Every count the
//     shared state returns is mirrored here, so a token this replica has
//     counted keeps its count through the outage; a token issued after the
//     outage began cannot have been counted anywhere, so it is counted here
//     (at most max_uses per replica); a token issued before the outage that
//     this replica never counted is refused as unavailable (retryable),
//     because another replica may have used it up. When the shared state
//     is back, a token's count is the higher of the shared count and this
//     replica's, so uses made during the outage still count.
type SharedState struct {
	log  *slog.Logger
	skew time.Duration

	mu    sync.Mutex
	since time.Time // start of the current outage; zero while the shared state answers
}

// NewSharedState returns the fallback policy; skew is the clock skew allowed
// between token issuers and this replica (tokens issued within skew after
// the outage began count as issued before it). A nil log is slog.Default.
func NewSharedState(log *slog.Logger, skew time.Duration) *SharedState {
	if log == nil {
		log = slog.Default()
	}
	return &SharedState{log: log, skew: skew}
}

// Replay wraps the shared replay counter with local, this replica's memory.
func (s *SharedState) Replay(shared ReplayGuard, local *MemoryReplay) ReplayGuard {
	return sharedReplay{s: s, shared: shared, local: local}
}

// Devices wraps the shared device registry with local.
func (s *SharedState) Devices(shared, local DeviceTracker) DeviceTracker {
	return sharedDevices{s: s, shared: shared, local: local}
}

// failed records an answer the shared state did not give and returns when
// the outage began.
func (s *SharedState) failed(what string, err error, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		s.since = now
		s.log.Warn("shared state (redis) unavailable: using this replica's memory until it is back", "for", what, "error", err.Error())
	}
	return s.since
}

func (s *SharedState) recovered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.since.IsZero() {
		s.since = time.Time{}
		s.log.Info("shared state (redis) available again")
	}
}

type sharedReplay struct {
	s      *SharedState
	shared ReplayGuard
	local  *MemoryReplay
}

func (r sharedReplay) Use(ctx context.Context, id string, issued, now time.Time, ttl time.Duration) (int64, error) {
	n, err := r.shared.Use(ctx, id, issued, now, ttl)
	if err == nil {
		r.s.recovered()
		return r.local.observe(id, n, now, ttl), nil
	}
	since := r.s.failed("token use counting", err, now)
	if !r.local.seen(id, now) && !issued.After(since.Add(r.s.skew)) {
		return 0, fmt.Errorf("%w: %w", ErrReplayUnknown, err)
	}
	return r.local.Use(ctx, id, issued, now, ttl)
}

type sharedDevices struct {
	s             *SharedState
	shared, local DeviceTracker
}

func (d sharedDevices) Admit(ctx context.Context, user, device string, now time.Time, window time.Duration, limit int) (bool, error) {
	ok, err := d.shared.Admit(ctx, user, device, now, window, limit)
	if err == nil {
		d.s.recovered()
		return ok, nil
	}
	d.s.failed("device limits", err, now)
	return d.local.Admit(ctx, user, device, now, window, limit)
}
