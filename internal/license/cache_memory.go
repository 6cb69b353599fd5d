package license

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// DefaultMemoryCacheEntries bounds the in-memory cache.
const DefaultMemoryCacheEntries = 10000

// MemoryCache is a process-local, size-bounded LRU license cache with
// per-entry expiry. Purge (revocations, rare) scans the entries: no tag
// index is kept up to date on every Set.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type memEntry struct {
	key     string
	resp    Response
	tags    Tags
	expires time.Time
}

// NewMemoryCache returns a cache of at most maxEntries entries (0 =
// DefaultMemoryCacheEntries); now may be nil.
func NewMemoryCache(maxEntries int, now func() time.Time) *MemoryCache {
	maxEntries = confcheck.PositiveOr(maxEntries, DefaultMemoryCacheEntries)
	if now == nil {
		now = time.Now
	}
	return &MemoryCache{max: maxEntries, now: now, ll: list.New(), items: map[string]*list.Element{}}
}

// Shared is false: the cache lives in this process.
func (c *MemoryCache) Shared() bool { return false }

// Len is the number of stored entries (expired ones included until evicted).
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, key string) (Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return Response{}, false
	}
	e := el.Value.(*memEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return Response{}, false
	}
	c.ll.MoveToFront(el)
	return e.resp, true
}

// Set implements Cache.
func (c *MemoryCache) Set(_ context.Context, key string, resp Response, tags Tags, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	for c.ll.Len() >= c.max {
		c.remove(c.ll.Back())
	}
	c.items[key] = c.ll.PushFront(&memEntry{key: key, resp: resp, tags: tags, expires: c.now().Add(ttl)})
}

// Purge implements Cache.
func (c *MemoryCache) Purge(_ context.Context, f PurgeFilter) (int, error) {
	if f.empty() {
		return 0, ErrEmptyPurge
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if f.matches(el.Value.(*memEntry).tags) {
			c.remove(el)
			n++
		}
		el = next
	}
	return n, nil
}

func (c *MemoryCache) remove(el *list.Element) {
	e := el.Value.(*memEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
}
