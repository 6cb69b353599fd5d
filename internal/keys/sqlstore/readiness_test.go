package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

func TestGetByContent(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		a, err := s.GetOrCreate(ctx, "show-1", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetOrCreate(ctx, "show-2", keys.HD, 0); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetByContent(ctx, "show-1", a.KID)
		if err != nil {
			t.Fatal(err)
		}
		if got.KID != a.KID || got.ContentID != "show-1" || string(got.Key.Key) != string(a.Key) || string(got.Key.IV) != string(a.IV) {
			t.Fatalf("GetByContent = %v", got)
		}
		// The KID exists, but under another content ID: not found.
		if _, err := s.GetByContent(ctx, "show-2", a.KID); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("other content: %v", err)
		}
		if _, err := s.GetByContent(ctx, "show-1", drm.KeyID{9}); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("unknown KID: %v", err)
		}
		// A revoked key is still returned (retried requests), with its state.
		if err := s.Revoke(ctx, a.KID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetByContent(ctx, "show-1", a.KID); err != nil || got.State != keys.StateRevoked {
			t.Fatalf("revoked: %v %v", got, err)
		}
	})
}

func TestPingSQLite(t *testing.T) {
	f := open(t, backends[0])
	if err := f.store.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	if err := f.store.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping on a closed store: %v", err)
	}
}

// TestPingFollowsPostgres stops the package's PostgreSQL server: Ping (and
// key requests) fail promptly, and recover once it is back.
func TestPingFollowsPostgres(t *testing.T) {
	f := open(t, backends[1])
	ctx := context.Background()
	s := f.store
	k, err := s.GetOrCreate(ctx, "ready", keys.SD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	stopped := true
	t.Cleanup(func() {
		if stopped {
			pg.Start(t)
		}
	})
	for i := range 3 { // repeatedly: pooled connections are all dead
		t0 := time.Now()
		err := s.Ping(ctx)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping %d with the server stopped: %v", i, err)
		}
		if d := time.Since(t0); d > pingTimeout+time.Second {
			t.Fatalf("Ping took %v to fail", d)
		}
	}
	if _, err := s.GetOrCreate(ctx, "ready", keys.SD, 0); err == nil {
		t.Fatal("GetOrCreate succeeded with the server stopped")
	}

	pg.Start(t)
	stopped = false
	pgAdmin.SetMaxIdleConns(0) // drop the admin pool's dead connections
	pgAdmin.SetMaxIdleConns(2)
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := s.GetOrCreate(ctx, "ready", keys.SD, 0)
	if err != nil || got.KID != k.KID {
		t.Fatalf("after restart: %v %v", got.KID, err)
	}
}
