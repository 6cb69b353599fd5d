package entitlement_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// memoryLog is a durable revocation log in memory (the store's audit log
// in production), recording what each read asked for.
type memoryLog struct {
	mu     sync.Mutex
	rs     []entitlement.Revocation
	sinces []time.Time
	err    error
}

func (l *memoryLog) RevocationsSince(_ context.Context, since time.Time) ([]entitlement.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sinces = append(l.sinces, since)
	if l.err != nil {
		return nil, l.err
	}
	var out []entitlement.Revocation
	for _, r := range l.rs {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *memoryLog) add(r entitlement.Revocation) {
	l.mu.Lock()
	l.rs = append(l.rs, r)
	l.mu.Unlock()
}

func (l *memoryLog) lastSince() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sinces[len(l.sinces)-1]
}

func userRevocation(user string, at time.Time) entitlement.Revocation {
	return entitlement.Revocation{Kind: entitlement.RevokeUser, Value: user, By: "apikey:ops", At: at.UTC().Truncate(time.Microsecond)}
}

// TestRevocationSyncLearnsOnce (issue 16): startup restores the whole log
// without notifying; a re-sync reads only from ResyncLookback before the
// newest entry read, applies and notifies what this replica did not hold
// (also an entry stamped earlier but committed later, or by a clock
// running ahead), and notifies nothing twice.
func TestRevocationSyncLearnsOnce(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	log := &memoryLog{rs: []entitlement.Revocation{userRevocation("old", t0)}}
	revs := entitlement.NewMemoryRevocations(nil)
	var notified []string
	defer revs.Subscribe(func(r entitlement.Revocation) { notified = append(notified, r.Value) })()
	s, err := entitlement.NewRevocationSync(entitlement.RevocationSyncConfig{}, entitlement.RevocationSyncDeps{Log: log, Revocations: revs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if !log.lastSince().IsZero() {
		t.Errorf("startup read from %v, want the whole log", log.lastSince())
	}
	if revoked, _ := revs.IsRevoked(ctx, entitlement.RevokeUser, "old"); !revoked || len(notified) != 0 {
		t.Fatalf("after restore: revoked %v, notified %v", revoked, notified)
	}

	// Another replica's revocation, then one stamped before it (a slower
	// clock or commit) that lands in the log afterwards.
	log.add(userRevocation("new", t0.Add(10*time.Second)))
	steps := []struct {
		add       *entitlement.Revocation
		wantNew   int
		wantSince time.Time
	}{
		{nil, 1, t0.Add(-entitlement.ResyncLookback)},
		{nil, 0, t0.Add(10*time.Second - entitlement.ResyncLookback)},
		{ptrTo(userRevocation("late", t0.Add(5*time.Second))), 1, t0.Add(10*time.Second - entitlement.ResyncLookback)},
		{ptrTo(userRevocation("old", t0.Add(20*time.Second))), 0, t0.Add(10*time.Second - entitlement.ResyncLookback)},
	}
	for i, st := range steps {
		if st.add != nil {
			log.add(*st.add)
		}
		n, err := s.Sync(ctx)
		if err != nil || n != st.wantNew {
			t.Errorf("sync %d: %d new, %v; want %d", i, n, err, st.wantNew)
		}
		if got := log.lastSince(); !got.Equal(st.wantSince) {
			t.Errorf("sync %d read from %v, want %v", i, got, st.wantSince)
		}
	}
	if want := []string{"new", "late"}; len(notified) != len(want) || notified[0] != want[0] || notified[1] != want[1] {
		t.Errorf("notified %v, want %v (each new revocation once, none already held)", notified, want)
	}
	for _, u := range []string{"new", "late"} {
		if revoked, _ := revs.IsRevoked(ctx, entitlement.RevokeUser, u); !revoked {
			t.Errorf("%s not revoked after the re-syncs", u)
		}
	}

	// An entry from a clock an hour ahead is learned, and later entries
	// stamped by correct clocks are still read.
	log.add(userRevocation("ahead", time.Now().Add(time.Hour)))
	if n, err := s.Sync(ctx); n != 1 || err != nil {
		t.Errorf("sync of a future-stamped entry: %d new, %v", n, err)
	}
	log.add(userRevocation("after-ahead", time.Now()))
	if n, err := s.Sync(ctx); n != 1 || err != nil {
		t.Errorf("sync after a future-stamped entry: %d new, %v; want the correctly stamped entry", n, err)
	}

	log.mu.Lock()
	log.err = errors.New("database is down")
	log.mu.Unlock()
	if _, err := s.Sync(ctx); err == nil {
		t.Error("Sync with the log down: no error")
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestRevocationSyncLoop: Start re-syncs every interval and at once on
// Wake; Close stops the loop.
func TestRevocationSyncLoop(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		wake     bool
	}{{"period", 20 * time.Millisecond, false}, {"wake", time.Hour, true}} {
		t.Run(tc.name, func(t *testing.T) {
			log := &memoryLog{}
			revs := entitlement.NewMemoryRevocations(nil)
			var notified atomic.Int32
			defer revs.Subscribe(func(entitlement.Revocation) { notified.Add(1) })()
			wake := make(chan struct{}, 1)
			s, err := entitlement.NewRevocationSync(entitlement.RevocationSyncConfig{ResyncInterval: tc.interval},
				entitlement.RevocationSyncDeps{Log: log, Revocations: revs, Wake: wake})
			if err != nil {
				t.Fatal(err)
			}
			s.Start()
			log.add(userRevocation("u", time.Now()))
			if tc.wake {
				wake <- struct{}{}
			}
			deadline := time.Now().Add(2 * time.Second)
			for revoked, _ := revs.IsRevoked(ctx, entitlement.RevokeUser, "u"); !revoked; revoked, _ = revs.IsRevoked(ctx, entitlement.RevokeUser, "u") {
				if time.Now().After(deadline) {
					t.Fatal("revocation added to the log not learned within 2s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			done := make(chan struct{})
			go func() { _ = s.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("Close hangs")
			}
			if n := notified.Load(); n != 1 {
				t.Errorf("notified %d times, want 1", n)
			}
		})
	}
}

func TestRevocationSyncConfig(t *testing.T) {
	revs := entitlement.NewMemoryRevocations(nil)
	for _, tc := range []struct {
		name string
		cfg  entitlement.RevocationSyncConfig
		deps entitlement.RevocationSyncDeps
	}{
		{"no log", entitlement.RevocationSyncConfig{}, entitlement.RevocationSyncDeps{Revocations: revs}},
		{"no list", entitlement.RevocationSyncConfig{}, entitlement.RevocationSyncDeps{Log: &memoryLog{}}},
		{"negative interval", entitlement.RevocationSyncConfig{ResyncInterval: -time.Second}, entitlement.RevocationSyncDeps{Log: &memoryLog{}, Revocations: revs}},
	} {
		if _, err := entitlement.NewRevocationSync(tc.cfg, tc.deps); !errors.Is(err, entitlement.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}
