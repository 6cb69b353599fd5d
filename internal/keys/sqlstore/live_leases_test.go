package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLiveLeases: one holder at a time; a takeover after expiry bumps the
// fence, and the old holder's renewals and state writes are refused; a
// restarted holder takes its own lease at once; a release frees it.
func TestLiveLeases(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		ttl := 8 * time.Second
		a, err := s.AcquireLease(ctx, "news", "replica-a", t0, ttl)
		if err != nil || a.Fence != 1 || a.State != nil {
			t.Fatalf("first acquire: %+v %v", a, err)
		}
		if err := s.SaveLeaseState(ctx, "news", a.Fence, []byte(`{"n":1}`)); err != nil {
			t.Fatal(err)
		}
		held, err := s.AcquireLease(ctx, "news", "replica-b", t0.Add(7*time.Second), ttl)
		if !errors.Is(err, ErrLeaseHeld) || held.Holder != "replica-a" || !held.Expires.Equal(t0.Add(ttl)) {
			t.Fatalf("acquire of a held lease: %+v %v, want ErrLeaseHeld naming replica-a", held, err)
		}
		if err := s.RenewLease(ctx, "news", a.Fence, t0.Add(7*time.Second), ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireLease(ctx, "news", "replica-b", t0.Add(14*time.Second), ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("acquire before the renewed expiry: %v", err)
		}
		b, err := s.AcquireLease(ctx, "news", "replica-b", t0.Add(15*time.Second), ttl)
		if err != nil || b.Fence != 2 || string(b.State) != `{"n":1}` {
			t.Fatalf("takeover after expiry: %+v %v", b, err)
		}
		for name, err := range map[string]error{
			"renew":   s.RenewLease(ctx, "news", a.Fence, t0.Add(16*time.Second), ttl),
			"save":    s.SaveLeaseState(ctx, "news", a.Fence, []byte(`{"n":"stale"}`)),
			"release": s.ReleaseLease(ctx, "news", a.Fence),
		} {
			if !errors.Is(err, ErrLeaseLost) {
				t.Errorf("old holder's %s: %v, want ErrLeaseLost", name, err)
			}
		}
		if err := s.SaveLeaseState(ctx, "news", b.Fence, []byte(`{"n":2}`)); err != nil {
			t.Fatal(err)
		}
		// A restarted replica-b takes its own unexpired lease, with a new fence.
		b2, err := s.AcquireLease(ctx, "news", "replica-b", t0.Add(16*time.Second), ttl)
		if err != nil || b2.Fence != 3 || string(b2.State) != `{"n":2}` {
			t.Fatalf("re-acquire by the holder: %+v %v", b2, err)
		}
		if err := s.SaveLeaseState(ctx, "news", b.Fence, []byte(`{}`)); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("write under the holder's previous fence: %v", err)
		}
		if err := s.ReleaseLease(ctx, "news", b2.Fence); err != nil {
			t.Fatal(err)
		}
		if c, err := s.AcquireLease(ctx, "news", "replica-c", t0.Add(17*time.Second), ttl); err != nil || c.Fence != 4 {
			t.Fatalf("acquire after release: %+v %v", c, err)
		}
		// Deleting the channel deletes its lease and state.
		if err := s.CreateChannel(ctx, ChannelRecord{Name: "news", Spec: []byte(`{}`), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChannel(ctx, "news"); err != nil {
			t.Fatal(err)
		}
		if d, err := s.AcquireLease(ctx, "news", "replica-a", t0.Add(18*time.Second), ttl); err != nil || d.Fence != 1 || d.State != nil {
			t.Fatalf("acquire after delete: %+v %v", d, err)
		}
	})
}
