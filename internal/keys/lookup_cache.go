package keys

import (
	"context"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Reader reads stored keys: one by KID, or a content's keys without key
// material.
type Reader interface {
	Get(ctx context.Context, kid drm.KeyID) (StoredKey, error)
	List(ctx context.Context, contentID string) ([]StoredKey, error)
}

// Bounds of LookupCache.
const (
	// LookupCacheTTL is how long a read is remembered: a key revoked in
	// the store is seen by license requests within it (the revocation
	// list, checked on every request, sees it at once).
	LookupCacheTTL = time.Second
	// LookupCacheEntries bounds each of the three caches.
	LookupCacheEntries = 4096
)

// PeriodTimesReader lists the key periods recorded for a content, in
// index order (PeriodTimesStore.ListPeriodTimes).
type PeriodTimesReader interface {
	ListPeriodTimes(ctx context.Context, contentID string) ([]PeriodTimes, error)
}

// LookupCache remembers the answers of a Reader and a PeriodTimesReader in
// process memory for LookupCacheTTL, so a burst of license requests for the
// same content costs one store read per key (and per content list, and per
// content's period times for look-ahead licenses) per second. Errors are
// not remembered. Callers must not modify what it returns.
type LookupCache struct {
	next      Reader
	periods   PeriodTimesReader
	now       func() time.Time
	byKID     ttlCache[drm.KeyID, StoredKey]
	byContent ttlCache[string, []StoredKey]
	byPeriods ttlCache[string, []PeriodTimes]
}

// NewLookupCache caches the reads of next and periods; now is the clock
// (nil = time.Now).
func NewLookupCache(next Reader, periods PeriodTimesReader, now func() time.Time) *LookupCache {
	if now == nil {
		now = time.Now
	}
	return &LookupCache{next: next, periods: periods, now: now,
		byKID:     ttlCache[drm.KeyID, StoredKey]{m: map[drm.KeyID]ttlEntry[StoredKey]{}},
		byContent: ttlCache[string, []StoredKey]{m: map[string]ttlEntry[[]StoredKey]{}},
		byPeriods: ttlCache[string, []PeriodTimes]{m: map[string]ttlEntry[[]PeriodTimes]{}}}
}

// Get implements Reader.
func (c *LookupCache) Get(ctx context.Context, kid drm.KeyID) (StoredKey, error) {
	return cachedRead(ctx, &c.byKID, kid, c.now(), c.next.Get)
}

// List implements Reader.
func (c *LookupCache) List(ctx context.Context, contentID string) ([]StoredKey, error) {
	return cachedRead(ctx, &c.byContent, contentID, c.now(), c.next.List)
}

// ListPeriodTimes implements PeriodTimesReader.
func (c *LookupCache) ListPeriodTimes(ctx context.Context, contentID string) ([]PeriodTimes, error) {
	return cachedRead(ctx, &c.byPeriods, contentID, c.now(), c.periods.ListPeriodTimes)
}

func cachedRead[K comparable, V any](ctx context.Context, c *ttlCache[K, V], k K, now time.Time, read func(context.Context, K) (V, error)) (V, error) {
	if v, ok := c.get(k, now); ok {
		return v, nil
	}
	v, err := read(ctx, k)
	if err != nil {
		return v, err
	}
	c.put(k, v, now)
	return v, nil
}

// ttlCache remembers values for LookupCacheTTL, at most
// LookupCacheEntries.
type ttlCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= LookupCacheEntries {
		// Entries live one second: start over rather than sweep per put.
		clear(c.m)
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(LookupCacheTTL)}
}
