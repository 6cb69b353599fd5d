package apikey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Audit actions that record accesses rather than admin decisions. They are
// the only ones a retention policy may delete (PrunableActions): admin
// actions (revoke.*, apikey.*, broker.issue, key changes) are kept, and
// revoke.* entries are the durable record every replica restores its
// revocations from.
const (
	// ActionBrokerFetch is one strict-broker key delivery (one row each).
	ActionBrokerFetch = "broker.fetch"
	// ActionBrokerRefuse is refused strict-broker requests, aggregated by
	// an Aggregator: one row per (client, reason, target) and window.
	ActionBrokerRefuse = "broker.refuse"
)

// PrunableActions are the audit actions a retention policy deletes once
// older than the retention period. Every other action is kept forever.
func PrunableActions() []string { return []string{ActionBrokerFetch, ActionBrokerRefuse} }

// Defaults of an Aggregator.
const (
	DefaultAggregateWindow  = time.Minute
	DefaultAggregateMaxKeys = 10000
)

// OverflowActor stands for every client that arrived while an Aggregator
// already tracked its maximum number of keys in the current window.
const OverflowActor = "(other clients)"

// Aggregator counts repeated audit events (refused requests) in memory and
// writes one entry per (actor, action, target, reason) and window, with
// the count, instead of one row per event: a client that sends thousands
// of refused requests a second costs the audit log a few rows a minute,
// while every attempt is still accounted for.
//
// Why in memory and not an upsert per event: an upsert would still be one
// database write per refused request, which is the load to get rid of.
// The price is that a crash loses the counts of at most one window;
// Close (graceful shutdown) writes them.
type Aggregator struct {
	write   func(ctx context.Context, e Entry) error
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu sync.Mutex
	m  map[aggregateKey]*aggregate

	started atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type aggregateKey struct{ actor, action, target, reason string }

type aggregate struct {
	first, last time.Time
	count       int64
}

// AggregatorConfig sets the window and the most distinct keys a window
// holds (beyond it, new clients are counted under OverflowActor); zero
// values take the defaults. Now may be nil (time.Now).
type AggregatorConfig struct {
	Window  time.Duration
	MaxKeys int
	Now     func() time.Time
}

// NewAggregator returns an Aggregator writing through write (an AuditLog's
// Audit). Start runs its periodic flush.
func NewAggregator(cfg AggregatorConfig, write func(ctx context.Context, e Entry) error) *Aggregator {
	cfg.Window = confcheck.PositiveOr(cfg.Window, DefaultAggregateWindow)
	cfg.MaxKeys = confcheck.PositiveOr(cfg.MaxKeys, DefaultAggregateMaxKeys)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Aggregator{write: write, window: cfg.Window, maxKeys: cfg.MaxKeys, now: cfg.Now,
		m: map[aggregateKey]*aggregate{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// Add counts one event. e.Detail is the reason (part of the key); e.At is
// ignored (the Aggregator's clock is used). It never touches the database.
func (a *Aggregator) Add(e Entry) {
	now := a.now()
	k := aggregateKey{actor: e.Actor, action: e.Action, target: e.Target, reason: e.Detail}
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.m[k]
	if !ok && len(a.m) >= a.maxKeys {
		k.actor, k.target = OverflowActor, ""
		g, ok = a.m[k]
	}
	if !ok {
		g = &aggregate{first: now}
		a.m[k] = g
	}
	g.count++
	g.last = now
}

// Flush writes one entry per key counted since the last flush: At is the
// first event, Detail "count=N first=T last=T reason=R" (RFC 3339 times).
// Entries that fail to be written are counted again in the next window.
func (a *Aggregator) Flush(ctx context.Context) error {
	a.mu.Lock()
	m := a.m
	a.m = map[aggregateKey]*aggregate{}
	a.mu.Unlock()
	var errs []error
	for k, g := range m {
		detail := fmt.Sprintf("count=%d first=%s last=%s reason=%s", g.count,
			g.first.UTC().Format(time.RFC3339Nano), g.last.UTC().Format(time.RFC3339Nano), k.reason)
		if len(detail) > MaxAuditDetail {
			detail = detail[:MaxAuditDetail]
		}
		e := Entry{Actor: k.actor, Action: k.action, Target: k.target, At: g.first, Detail: detail}
		if err := a.write(ctx, e); err != nil {
			errs = append(errs, err)
			a.restore(k, g)
		}
	}
	return errors.Join(errs...)
}

// restore puts back a count whose write failed.
func (a *Aggregator) restore(k aggregateKey, g *aggregate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.m[k]; ok {
		cur.count += g.count
		cur.first = g.first
		return
	}
	a.m[k] = g
}

// Start flushes every window until Close; errors go to onError (may be nil).
func (a *Aggregator) Start(onError func(error)) {
	if a.started.Swap(true) {
		return
	}
	go func() {
		defer close(a.done)
		t := time.NewTicker(a.window)
		defer t.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-t.C:
				if err := a.Flush(context.Background()); err != nil && onError != nil {
					onError(err)
				}
			}
		}
	}()
}

// Close stops the periodic flush (if started) and writes what is counted.
func (a *Aggregator) Close() error {
	a.once.Do(func() { close(a.stop) })
	if a.started.Load() {
		<-a.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Flush(ctx)
}
