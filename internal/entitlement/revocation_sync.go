package entitlement

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of RevocationSyncConfig.
const (
	// DefaultResyncInterval is how often a replica re-reads the durable
	// revocation log.
	DefaultResyncInterval = 5 * time.Second
	// ResyncLookback is how far before the newest revocation already read
	// each re-sync reads again: revocations are stamped by the clock of the
	// replica that took them and committed a moment later, so one can land
	// in the log behind a newer one. Replica clocks must agree within it.
	ResyncLookback = time.Minute
	// resyncTimeout bounds one read of the durable log.
	resyncTimeout = 5 * time.Second
)

// RevocationSyncConfig configures how a replica keeps its revocation list
// in step with the durable log (the store's audit log, written before a
// revocation is applied anywhere).
type RevocationSyncConfig struct {
	// ResyncInterval is how often the durable log is re-read for
	// revocations this replica has not applied (made while Redis was down,
	// or by another replica or the CLI). 0 = DefaultResyncInterval.
	ResyncInterval time.Duration `koanf:"resync_interval" yaml:"resync_interval"`
}

// RevocationLog is the durable record of revocations: the store's audit
// log, which the admin API writes before it applies a revocation.
type RevocationLog interface {
	// RevocationsSince returns the revocations recorded at or after since
	// (every one when since is zero), oldest first.
	RevocationsSince(ctx context.Context, since time.Time) ([]Revocation, error)
}

// RevocationSyncDeps are RevocationSync's collaborators.
type RevocationSyncDeps struct {
	// Log is the durable record (required).
	Log RevocationLog
	// Revocations is this replica's live list (required).
	Revocations Revocations
	// Wake, when not nil, asks for a re-sync at once: the shared state's
	// connection came back, so what was made during the outage is only in
	// the log.
	Wake <-chan struct{}
	// Logger gets the start and the end of a failing log; nil = slog.Default.
	Logger *slog.Logger
}

// RevocationSync makes the durable log the source of truth of a replica's
// revocation list: Restore loads all of it at startup, and Start re-reads
// the recent part every ResyncInterval and on every Wake, so that a
// revocation the shared state (Redis) never carried reaches every replica
// within the interval. Each re-read asks only for entries from
// ResyncLookback before the newest one already read.
type RevocationSync struct {
	interval time.Duration
	deps     RevocationSyncDeps

	mu      sync.Mutex // one read at a time; guards newest and failing
	newest  time.Time  // At of the newest revocation read from the log
	failing bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRevocationSync checks cfg and deps; call Restore, then Start.
func NewRevocationSync(cfg RevocationSyncConfig, deps RevocationSyncDeps) (*RevocationSync, error) {
	if deps.Log == nil || deps.Revocations == nil {
		return nil, fmt.Errorf("%w: revocation sync needs a durable log and a revocation list", ErrConfig)
	}
	if cfg.ResyncInterval < 0 {
		return nil, fmt.Errorf("%w: revocation resync interval %v is negative", ErrConfig, cfg.ResyncInterval)
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &RevocationSync{interval: cfg.ResyncInterval, deps: deps, ctx: ctx, cancel: cancel}, nil
}

// Restore loads every revocation of the log into the live list without
// notifying subscribers (startup: their purges were done when each was
// first applied).
func (s *RevocationSync) Restore(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, err := s.deps.Log.RevocationsSince(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("restore revocations from the durable log: %w", err)
	}
	if err := s.deps.Revocations.Restore(rs); err != nil {
		return fmt.Errorf("restore revocations from the durable log: %w", err)
	}
	s.advance(rs)
	return nil
}

// Sync reads the log from ResyncLookback before the newest revocation
// already read and hands what it finds to the live list, which applies and
// notifies the ones it did not hold. It returns how many were new.
func (s *RevocationSync) Sync(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var since time.Time
	if !s.newest.IsZero() {
		since = s.newest.Add(-ResyncLookback)
	}
	rs, err := s.deps.Log.RevocationsSince(ctx, since)
	if err != nil {
		return 0, fmt.Errorf("re-sync revocations from the durable log: %w", err)
	}
	n, err := s.deps.Revocations.Learn(rs)
	if err != nil {
		return n, fmt.Errorf("re-sync revocations from the durable log: %w", err)
	}
	s.advance(rs)
	return n, nil
}

// advance moves the read mark to the newest At of rs, but never past this
// replica's now: an entry stamped by a clock running ahead must not hide
// the entries stamped correctly after it. s.mu is held.
func (s *RevocationSync) advance(rs []Revocation) {
	now := time.Now()
	for _, r := range rs {
		if r.At.After(s.newest) {
			s.newest = r.At
		}
	}
	if s.newest.After(now) {
		s.newest = now
	}
}

// Start re-syncs every interval and on every Wake until Close.
func (s *RevocationSync) Start() {
	s.done = make(chan struct{})
	go s.run()
}

func (s *RevocationSync) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.deps.Wake: // a nil Wake never fires
		}
		s.syncAndLog()
	}
}

// syncAndLog runs one Sync and logs a newly learned revocation, and the
// start and the end of a run of failures once each.
func (s *RevocationSync) syncAndLog() {
	ctx, cancel := context.WithTimeout(s.ctx, resyncTimeout)
	defer cancel()
	n, err := s.Sync(ctx)
	if s.ctx.Err() != nil {
		return // closing
	}
	s.mu.Lock()
	was := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	switch {
	case err != nil && !was:
		s.deps.Logger.Warn("revocation re-sync failing: revocations made elsewhere reach this replica once the durable log answers", "error", err.Error())
	case err == nil && was:
		s.deps.Logger.Info("revocation re-sync working again")
	}
	if n > 0 {
		s.deps.Logger.Info("revocations learned from the durable log", "count", n)
	}
}

// Close stops the loop started by Start and waits for it.
func (s *RevocationSync) Close() error {
	s.cancel()
	if s.done != nil {
		<-s.done
	}
	return nil
}
