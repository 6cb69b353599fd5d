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
// the shared state when neither this replica nor the durable record can say
// whether it is exhausted (the store is unreachable too): retryable.
var ErrReplayUnknown = errors.New("token uses unknown while the shared state is down")

// ExhaustedTokens is the durable record (the store) of tokens that used up
// their license requests, kept until they expire.
type ExhaustedTokens interface {
	MarkTokenExhausted(ctx context.Context, id string, until time.Time) error
	TokenExhausted(ctx context.Context, id string, now time.Time) (bool, error)
}

// SharedState decorates the shared (Redis) device registry and replay
// counter with this replica's memory, so that licenses keep being issued
// while the shared state does not answer. /readyz reports the outage
// meanwhile. The outage policy (README "Entitlement"):
//
//   - device limits fall back to this replica's memory: they hold per
//     replica until the shared state is back;
//   - an exhausted token (max_uses reached) never works again: the request
//     that exhausts it records it in the store (ExhaustedTokens), and during
//     an outage every use is checked against that record first;
//   - other tokens are counted on: every count the shared state returns is
//     mirrored here, so a token this replica has counted continues from its
//     count; a token it never counted starts from zero here, so during an
//     outage a token that is not yet exhausted may get up to max_uses more
//     uses on each replica (bounded, and only while the outage lasts);
//   - when the store is unreachable too, a token this replica never counted
//     is refused as unavailable (retryable);
//   - when the shared state is back, a token's count is the higher of the
//     shared count and this replica's, so uses made during the outage count.
type SharedState struct {
	log *slog.Logger

	mu    sync.Mutex
	since time.Time // start of the current outage; zero while the shared state answers
}

// NewSharedState returns the fallback policy. A nil log is slog.Default.
func NewSharedState(log *slog.Logger) *SharedState {
	if log == nil {
		log = slog.Default()
	}
	return &SharedState{log: log}
}

// Replay wraps the shared replay counter with local, this replica's memory,
// and exhausted, the durable record of exhausted tokens.
func (s *SharedState) Replay(shared ReplayGuard, local *MemoryReplay, exhausted ExhaustedTokens) ReplayGuard {
	return sharedReplay{s: s, shared: shared, local: local, exhausted: exhausted}
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
	s         *SharedState
	shared    ReplayGuard
	local     *MemoryReplay
	exhausted ExhaustedTokens
}

// Exhausted is the count a guard returns for a token recorded as exhausted:
// above any max_uses.
const Exhausted = int64(1) << 40

func (r sharedReplay) Use(ctx context.Context, id string, issued, now time.Time, ttl time.Duration) (int64, error) {
	n, err := r.shared.Use(ctx, id, issued, now, ttl)
	if err == nil {
		r.s.recovered()
		return r.local.observe(id, n, now, ttl), nil
	}
	r.s.failed("token use counting", err, now)
	done, xerr := r.exhausted.TokenExhausted(ctx, id, now)
	switch {
	case xerr == nil && done:
		return Exhausted, nil
	case xerr != nil && !r.local.seen(id, now):
		return 0, fmt.Errorf("%w: %w", ErrReplayUnknown, errors.Join(err, xerr))
	}
	return r.local.Use(ctx, id, issued, now, ttl)
}

// MarkExhausted records that token id used up its license requests until
// it expires.
func (r sharedReplay) MarkExhausted(ctx context.Context, id string, until time.Time) error {
	return r.exhausted.MarkTokenExhausted(ctx, id, until)
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
