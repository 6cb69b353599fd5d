package keys_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// countingReader answers from a map and counts the reads that reach it.
type countingReader struct {
	mu    sync.Mutex
	keys  map[drm.KeyID]keys.StoredKey
	reads int
	fail  error
}

func (r *countingReader) Get(_ context.Context, kid drm.KeyID) (keys.StoredKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	if r.fail != nil {
		return keys.StoredKey{}, r.fail
	}
	k, ok := r.keys[kid]
	if !ok {
		return keys.StoredKey{}, keys.ErrKeyNotFound
	}
	return k, nil
}

func (r *countingReader) List(_ context.Context, contentID string) ([]keys.StoredKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	var out []keys.StoredKey
	for _, k := range r.keys {
		if k.ContentID == contentID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (r *countingReader) ListPeriodTimes(_ context.Context, contentID string) ([]keys.PeriodTimes, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return []keys.PeriodTimes{{Period: 0, End: 4 * time.Second}}, nil
}

// TestLookupCache: within LookupCacheTTL a key, a content list and a
// content's period times are read from the store once; a revocation in the store is seen once the TTL is
// over; errors are not remembered.
func TestLookupCache(t *testing.T) {
	ctx := context.Background()
	kid := drm.KeyID{1}
	store := &countingReader{keys: map[drm.KeyID]keys.StoredKey{kid: {ContentID: "movie1", State: keys.StateActive}}}
	now := time.Unix(1_800_000_000, 0)
	c := keys.NewLookupCache(store, store, func() time.Time { return now })

	for range 3 {
		if k, err := c.Get(ctx, kid); err != nil || k.State != keys.StateActive {
			t.Fatalf("Get: %+v %v", k, err)
		}
		if l, err := c.List(ctx, "movie1"); err != nil || len(l) != 1 {
			t.Fatalf("List: %v %v", l, err)
		}
		if p, err := c.ListPeriodTimes(ctx, "movie1"); err != nil || len(p) != 1 {
			t.Fatalf("ListPeriodTimes: %v %v", p, err)
		}
	}
	if store.reads != 3 {
		t.Fatalf("%d store reads within the TTL, want 3 (one Get, one List, one ListPeriodTimes)", store.reads)
	}

	store.mu.Lock()
	store.keys[kid] = keys.StoredKey{ContentID: "movie1", State: keys.StateRevoked}
	store.mu.Unlock()
	now = now.Add(keys.LookupCacheTTL / 2)
	if k, _ := c.Get(ctx, kid); k.State != keys.StateActive {
		t.Error("cached answer not used within the TTL")
	}
	now = now.Add(keys.LookupCacheTTL)
	if k, _ := c.Get(ctx, kid); k.State != keys.StateRevoked {
		t.Error("revocation in the store not seen after the TTL")
	}

	other := drm.KeyID{2}
	store.fail = errors.New("store down")
	if _, err := c.Get(ctx, other); err == nil {
		t.Fatal("error not passed on")
	}
	store.fail = nil
	before := store.reads
	if _, err := c.Get(ctx, other); !errors.Is(err, keys.ErrKeyNotFound) || store.reads != before+1 {
		t.Errorf("after an error: %v, %d reads (want a new read)", err, store.reads-before)
	}
}
