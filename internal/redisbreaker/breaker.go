// Package redisbreaker keeps a hung or failing Redis from slowing every
// request down: a go-redis hook that bounds each command with a short
// timeout and puts a circuit breaker in front of the server. After a few
// consecutive failures the breaker opens and commands fail at once with
// ErrOpen, so callers take their fallback (this replica's memory for
// entitlement state, a miss for the license cache) without waiting; after
// a cool-down one command is let through as a probe, and its success
// closes the breaker again.
//
// A hung Redis (a SIGSTOPped or swapping process, a stalled network path)
// is the case that matters: its connections stay open, so nothing fails
// fast by itself and every command would wait for its read timeout.
package redisbreaker

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// ErrOpen is the error of a command refused because the breaker is open.
var ErrOpen = errors.New("redis circuit breaker open: redis did not answer recently")

// Breaker states as State returns them.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// Defaults of Config's zero values.
const (
	DefaultTimeout  = 100 * time.Millisecond
	DefaultFailures = 3
	DefaultOpenFor  = 2 * time.Second
)

// Config sets the breaker. Zero values take the defaults.
type Config struct {
	// Timeout bounds each command (and pipeline); 0 = 100 ms. The client
	// must have ContextTimeoutEnabled, or go-redis ignores it.
	Timeout time.Duration
	// Failures is how many consecutive failed commands open the breaker;
	// 0 = 3.
	Failures uint
	// OpenFor is how long it stays open before a probe; 0 = 2 s.
	OpenFor time.Duration
	// OnStateChange, if set, is called with the new state (StateOpen, ...)
	// on every transition. It must not block.
	OnStateChange func(state string)
}

// Breaker is one circuit breaker for one Redis server, shared by every
// client of it (Hook on each).
type Breaker struct {
	cb      circuitbreaker.CircuitBreaker[any]
	timeout time.Duration
}

// New returns a closed breaker.
func New(cfg Config) *Breaker {
	cfg.Timeout = confcheck.PositiveOr(cfg.Timeout, DefaultTimeout)
	cfg.Failures = cmp.Or(cfg.Failures, DefaultFailures)
	cfg.OpenFor = confcheck.PositiveOr(cfg.OpenFor, DefaultOpenFor)
	b := circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(cfg.Failures).
		WithSuccessThreshold(1).
		WithDelay(cfg.OpenFor)
	if f := cfg.OnStateChange; f != nil {
		b = b.OnStateChanged(func(e circuitbreaker.StateChangedEvent) { f(stateName(e.NewState)) })
	}
	return &Breaker{cb: b.Build(), timeout: cfg.Timeout}
}

func stateName(s circuitbreaker.State) string {
	switch s {
	case circuitbreaker.OpenState:
		return StateOpen
	case circuitbreaker.HalfOpenState:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// State is StateClosed, StateOpen or StateHalfOpen.
func (b *Breaker) State() string { return stateName(b.cb.State()) }

// Hook returns the go-redis hook to add to every client of the server.
func (b *Breaker) Hook() redis.Hook { return hook{b} }

// failed reports whether err means Redis did not answer. An error reply
// (redis.Error: NOSCRIPT, WRONGTYPE, ...) and a missing key (redis.Nil) are
// answers.
func failed(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var re redis.Error
	return !errors.As(err, &re)
}

// run admits one command, bounds it with the timeout and records whether
// Redis answered. A permit taken must always be recorded, or a half-open
// breaker would wait for its probe forever: a command cancelled by its
// caller counts as a failure (the breaker stays open one more cool-down
// at worst).
func (b *Breaker) run(ctx context.Context, f func(context.Context) error) error {
	// Commands go-redis sends inside a command (HELLO, AUTH, SELECT on a
	// new connection) are part of it: they need no permit of their own,
	// which a half-open breaker, whose one permit the probe holds, would
	// refuse, failing every probe.
	if ctx.Value(inCommand{}) != nil {
		return f(ctx)
	}
	if !b.cb.TryAcquirePermit() {
		return ErrOpen
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, inCommand{}, true), b.timeout)
	err := f(ctx)
	cancel()
	if failed(err) {
		b.cb.RecordFailure()
	} else {
		b.cb.RecordSuccess()
	}
	return err
}

// inCommand marks the context of a command the breaker admitted.
type inCommand struct{}

type hook struct{ b *Breaker }

func (hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := h.b.run(ctx, func(ctx context.Context) error { return next(ctx, cmd) })
		if errors.Is(err, ErrOpen) {
			cmd.SetErr(err)
		}
		return err
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := h.b.run(ctx, func(ctx context.Context) error { return next(ctx, cmds) })
		if errors.Is(err, ErrOpen) {
			for _, c := range cmds {
				c.SetErr(err)
			}
		}
		return err
	}
}
