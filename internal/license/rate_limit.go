package license

import (
	"container/heap"
	"net/netip"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Limiter is an in-memory token-bucket rate limiter keyed by client IP
// (IPv6 by /64, since one subscriber line gets a whole /64) and by user.
// The IP limit is checked before the token is verified, so floods are cheap
// to refuse; the user limit (the decision's subject) after.
type Limiter struct {
	ip, user *buckets
}

// NewLimiter returns a Limiter with the limits of cfg (a rate of 0 turns
// that limit off; MaxKeys 0 = DefaultRateLimitKeys); now may be nil
// (time.Now).
func NewLimiter(cfg RateLimits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	max := confcheck.PositiveOr(cfg.MaxKeys, DefaultRateLimitKeys)
	return &Limiter{ip: newBuckets(rate{cfg.PerIP, cfg.PerIPBurst}, max, now), user: newBuckets(rate{cfg.PerUser, cfg.PerUserBurst}, max, now)}
}

// rate is one token bucket: perSecond tokens refill per second up to
// burst. A zero perSecond disables the limit.
type rate struct {
	perSecond float64
	burst     int
}

// AllowIP takes a token for ip; when refused it says how long to wait.
func (l *Limiter) AllowIP(ip netip.Addr) (bool, time.Duration) {
	if !ip.IsValid() {
		return l.ip.allow("invalid")
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return l.ip.allow(p.String())
	}
	return l.ip.allow(ip.String())
}

// AllowUser takes a token for user.
func (l *Limiter) AllowUser(user string) (bool, time.Duration) { return l.user.allow(user) }

// bucket is one key's token bucket. full is when it will have refilled to
// Burst: from then on it carries no state (a new bucket would be the same).
type bucket struct {
	key    string
	tokens float64
	last   time.Time
	full   time.Time
	index  int // position in buckets.order
}

// buckets tracks at most max keys. When a new key arrives at a full table,
// the bucket that refills first is dropped: forgetting it hands its key at
// most the tokens it has not yet earned back, the smallest gift of any
// bucket, and nothing when it has refilled. A throttled client, whose bucket
// is the emptiest, is forgotten last, however many other addresses arrive.
type buckets struct {
	mu    sync.Mutex
	rate  rate
	max   int
	now   func() time.Time
	m     map[string]*bucket
	order byFull // min-heap on bucket.full
}

func newBuckets(r rate, max int, now func() time.Time) *buckets {
	if r.burst < 1 {
		r.burst = 1
	}
	return &buckets{rate: r, max: max, now: now, m: map[string]*bucket{}}
}

func (b *buckets) allow(key string) (bool, time.Duration) {
	if b.rate.perSecond <= 0 {
		return true, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.m[key]
	if !ok {
		for len(b.m) >= b.max {
			delete(b.m, heap.Pop(&b.order).(*bucket).key)
		}
		k = &bucket{key: key, tokens: float64(b.rate.burst), last: now}
		b.m[key] = k
		heap.Push(&b.order, k)
	} else {
		k.tokens += now.Sub(k.last).Seconds() * b.rate.perSecond
		if k.tokens > float64(b.rate.burst) {
			k.tokens = float64(b.rate.burst)
		}
		k.last = now
	}
	allowed := k.tokens >= 1
	if allowed {
		k.tokens--
	}
	k.full = now.Add(b.refill(float64(b.rate.burst) - k.tokens))
	heap.Fix(&b.order, k.index)
	if allowed {
		return true, 0
	}
	return false, b.refill(1 - k.tokens)
}

// refill is how long n tokens take to come back.
func (b *buckets) refill(n float64) time.Duration {
	return time.Duration(n / b.rate.perSecond * float64(time.Second))
}

// byFull orders buckets by the time they refill (container/heap).
type byFull []*bucket

func (h byFull) Len() int           { return len(h) }
func (h byFull) Less(i, j int) bool { return h[i].full.Before(h[j].full) }
func (h byFull) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *byFull) Push(x any) {
	b := x.(*bucket)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *byFull) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}
