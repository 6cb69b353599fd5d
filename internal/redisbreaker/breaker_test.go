package redisbreaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/redisbreaker"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestBreakerHungRedis: against a real redis-server that hangs (SIGSTOP),
// commands fail within the timeout until the breaker opens, then at once;
// after the cool-down a probe finds Redis answering again and closes it.
func TestBreakerHungRedis(t *testing.T) {
	rd := testtools.StartRedis(t)
	var mu sync.Mutex
	var states []string
	b := redisbreaker.New(redisbreaker.Config{Timeout: 30 * time.Millisecond, Failures: 3, OpenFor: 300 * time.Millisecond,
		OnStateChange: func(s string) { mu.Lock(); states = append(states, s); mu.Unlock() }})
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr, ContextTimeoutEnabled: true, MaxRetries: 1})
	defer rdb.Close()
	rdb.AddHook(b.Hook())
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A missing key and an error reply are answers, not failures.
	for range 5 {
		if err := rdb.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		if err := rdb.Incr(ctx, "k").Err(); err == nil {
			t.Fatal("INCR of a string succeeded")
		}
	}
	if s := b.State(); s != redisbreaker.StateClosed {
		t.Fatalf("state %s after answers", s)
	}

	// A new connection's HELLO counts as a command of its own: the
	// breaker opens after 3 failed commands at most.
	rd.Pause(t)
	slow := 0
	for i := range 4 {
		start := time.Now()
		err := rdb.Get(ctx, "k").Err()
		if errors.Is(err, redisbreaker.ErrOpen) {
			break
		}
		if d := time.Since(start); err == nil || d > 200*time.Millisecond {
			t.Fatalf("command %d against hung Redis: %v after %s", i, err, d)
		}
		slow++
	}
	if slow == 0 || slow > 3 {
		t.Errorf("%d commands waited for a hung Redis, want 1 to 3", slow)
	}
	if s := b.State(); s != redisbreaker.StateOpen {
		t.Fatalf("state %s after 3 timeouts", s)
	}
	start := time.Now()
	for range 100 {
		if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redisbreaker.ErrOpen) {
			t.Fatalf("open breaker: %v", err)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "k"); return nil }); !errors.Is(err, redisbreaker.ErrOpen) {
			t.Fatalf("open breaker, pipeline: %v", err)
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("200 refused commands took %s", d)
	}
	// Still hung after the cool-down: the probe fails, open again.
	time.Sleep(350 * time.Millisecond)
	if err := rdb.Get(ctx, "k").Err(); err == nil || errors.Is(err, redisbreaker.ErrOpen) {
		t.Fatalf("probe against hung Redis: %v", err)
	}
	if s := b.State(); s != redisbreaker.StateOpen {
		t.Fatalf("state %s after a failed probe", s)
	}
	rd.Resume(t)
	time.Sleep(350 * time.Millisecond)
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("probe after resume: %q %v", v, err)
	}
	if s := b.State(); s != redisbreaker.StateClosed {
		t.Fatalf("state %s after a successful probe", s)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("transitions: %v", states)
}
