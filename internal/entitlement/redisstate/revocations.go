package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// RevocationsOptions configures Revocations.
type RevocationsOptions struct {
	// Prefix starts the key and channel names; "" = DefaultPrefix.
	Prefix string
	// ResyncInterval is how often the full state is re-read, which also
	// detects an unreachable Redis (Ready) and catches changes published
	// while this replica was disconnected. Default 5 s.
	ResyncInterval time.Duration
	// OpTimeout bounds each Redis call of the background loop. Default 2 s.
	OpTimeout time.Duration
	// Now is the clock for revocations without At; default time.Now.
	Now func() time.Time
}

// Revocations is an entitlement.Revocations shared through Redis:
//
//	<prefix>revoked              HASH  "<kind>:<value>" -> revocation JSON (current state)
//	<prefix>revocations:audit    LIST  revocation JSON, oldest first (audit log)
//	<prefix>revocations          channel; every Revoke publishes its JSON
//
// Each replica keeps the state in memory, subscribes to the channel and
// applies what it receives at once, and re-reads the hash every
// ResyncInterval. IsRevoked answers from memory, so a Redis outage keeps
// the last known state (Ready then reports an error) and adds no latency.
// Revocations are only ever added: a resync merges, never removes.
type Revocations struct {
	entitlement.Subscribers
	rdb  redis.UniversalClient
	opts RevocationsOptions
	ps   *redis.PubSub

	mu      sync.RWMutex
	state   map[string]entitlement.Revocation
	lastErr error

	// reconnected gets a value each time the subscription is re-made
	// after its connection was lost (Reconnected).
	reconnected chan struct{}
	stop        chan struct{}
	done        chan struct{}
}

var _ entitlement.Revocations = (*Revocations)(nil)

// NewRevocations subscribes to the channel, loads the state and starts the
// background loop. An unreachable Redis is not an error here: the list
// starts empty and not ready, and fills when Redis comes back. Call Close
// to stop.
func NewRevocations(ctx context.Context, rdb redis.UniversalClient, opts RevocationsOptions) *Revocations {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 5 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Revocations{
		rdb: rdb, opts: opts, state: map[string]entitlement.Revocation{},
		reconnected: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	// Subscribe before loading, so nothing published in between is lost.
	r.ps = rdb.Subscribe(ctx, r.channel())
	sctx, cancel := context.WithTimeout(ctx, opts.OpTimeout)
	_, err := r.ps.Receive(sctx) // the subscription confirmation: later ones are reconnects
	cancel()
	if err != nil {
		r.setErr(unavailable("subscribe", err))
	} else {
		r.resync(ctx)
	}
	go r.run()
	return r
}

func (r *Revocations) hashKey() string  { return r.opts.Prefix + "revoked" }
func (r *Revocations) auditKey() string { return r.opts.Prefix + "revocations:audit" }
func (r *Revocations) channel() string  { return r.opts.Prefix + "revocations" }

func field(kind entitlement.RevocationKind, value string) string { return kind.String() + ":" + value }

func (r *Revocations) setErr(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

// Close stops the background loop and the subscription (not the client).
func (r *Revocations) Close() error {
	select {
	case <-r.stop:
		return nil
	default:
	}
	close(r.stop)
	err := r.ps.Close()
	<-r.done
	return err
}

// Reconnected receives a value whenever the subscription is re-made after
// its Redis connection was lost (Redis restarted, or reachable again):
// whatever was published meanwhile was missed, and a revocation that could
// not be published at all is only in the durable log, so the caller
// re-reads that (entitlement.RevocationSync's Wake). Values do not queue
// up: one pending value stands for any number of reconnects.
func (r *Revocations) Reconnected() <-chan struct{} { return r.reconnected }

func (r *Revocations) run() {
	defer close(r.done)
	// With subscription confirmations: go-redis re-subscribes on every
	// new connection, so each confirmation after the first is a reconnect.
	msgs := r.ps.ChannelWithSubscriptions()
	t := time.NewTicker(r.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Message:
				var rev entitlement.Revocation
				if err := json.Unmarshal([]byte(m.Payload), &rev); err != nil {
					continue // not ours; the resync will catch up
				}
				r.apply(rev)
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					r.timedResync()
					select {
					case r.reconnected <- struct{}{}:
					default:
					}
				}
			}
		case <-t.C:
			r.timedResync()
		}
	}
}

func (r *Revocations) timedResync() {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.OpTimeout)
	r.resync(ctx)
	cancel()
}

// apply adds rev to the local state and notifies subscribers if it is new.
func (r *Revocations) apply(rev entitlement.Revocation) {
	rev, err := rev.Normalize(r.opts.Now())
	if err != nil {
		return
	}
	f := field(rev.Kind, rev.Value)
	r.mu.Lock()
	old, had := r.state[f]
	if had && old.At.Equal(rev.At) {
		r.mu.Unlock()
		return
	}
	r.state[f] = rev
	r.mu.Unlock()
	r.Notify(rev)
}

// resync merges the hash into the local state and records readiness.
func (r *Revocations) resync(ctx context.Context) {
	all, err := r.rdb.HGetAll(ctx, r.hashKey()).Result()
	if err != nil {
		r.setErr(unavailable("load revocations", err))
		return
	}
	for _, v := range all {
		var rev entitlement.Revocation
		if json.Unmarshal([]byte(v), &rev) == nil {
			r.apply(rev)
		}
	}
	r.setErr(nil)
}

// Revoke implements entitlement.Revocations: state, audit entry and
// publication in one MULTI/EXEC. When Redis is unreachable the revocation
// is still applied here, and the error (ErrNotPropagated and
// ErrUnavailable) tells the caller the other replicas did not get it.
func (r *Revocations) Revoke(ctx context.Context, rev entitlement.Revocation) error {
	rev, err := rev.Normalize(r.opts.Now())
	if err != nil {
		return err
	}
	b, err := json.Marshal(rev)
	if err != nil {
		return fmt.Errorf("%w: %w", entitlement.ErrRevocation, err)
	}
	r.apply(rev) // at once here, whatever Redis does; other replicas via the channel
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.hashKey(), field(rev.Kind, rev.Value), b)
		p.RPush(ctx, r.auditKey(), b)
		p.Publish(ctx, r.channel(), b)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", entitlement.ErrNotPropagated, unavailable("revoke", err))
	}
	return nil
}

// IsRevoked implements entitlement.Revocations from the local state; it
// never fails.
func (r *Revocations) IsRevoked(_ context.Context, kind entitlement.RevocationKind, value string) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.state[field(kind, value)]
	return ok, nil
}

// List implements entitlement.Revocations: the audit log from Redis.
func (r *Revocations) List(ctx context.Context) ([]entitlement.Revocation, error) {
	vals, err := r.rdb.LRange(ctx, r.auditKey(), 0, -1).Result()
	if err != nil {
		return nil, unavailable("list revocations", err)
	}
	out := make([]entitlement.Revocation, 0, len(vals))
	for _, v := range vals {
		var rev entitlement.Revocation
		if err := json.Unmarshal([]byte(v), &rev); err != nil {
			return nil, fmt.Errorf("%w: audit entry: %w", entitlement.ErrRevocation, err)
		}
		out = append(out, rev)
	}
	return out, nil
}

// Restore implements entitlement.Revocations: rs join the local state
// (a resync only ever adds, so they stay); Redis and the other replicas,
// which restore from the same durable log, are left alone.
func (r *Revocations) Restore(rs []entitlement.Revocation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rev := range rs {
		rev, err := rev.Normalize(r.opts.Now())
		if errors.Is(err, entitlement.ErrInvalidID) {
			continue // see entitlement.Revocations.Restore
		}
		if err != nil {
			return err
		}
		f := field(rev.Kind, rev.Value)
		if _, had := r.state[f]; !had {
			r.state[f] = rev
		}
	}
	return nil
}

// Learn implements entitlement.Revocations: the revocations of rs not in
// the local state join it and are notified; Redis is left alone (the
// durable log, not Redis, is the record).
func (r *Revocations) Learn(rs []entitlement.Revocation) (int, error) {
	var added []entitlement.Revocation
	var err error
	r.mu.Lock()
	for _, rev := range rs {
		if rev, err = rev.Normalize(r.opts.Now()); err != nil {
			break
		}
		f := field(rev.Kind, rev.Value)
		if _, had := r.state[f]; !had {
			r.state[f] = rev
			added = append(added, rev)
		}
	}
	r.mu.Unlock()
	for _, rev := range added {
		r.Notify(rev)
	}
	return len(added), err
}

// Ready implements entitlement.Revocations: the error of the last resync.
func (r *Revocations) Ready() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.lastErr != nil {
		return errors.Join(errors.New("revocation state may be stale"), r.lastErr)
	}
	return nil
}
