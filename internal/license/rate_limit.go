package license

import (
	"net/netip"
	"sync"
	"time"
)

// Rate is a token bucket: PerSecond tokens refill per second up to Burst.
// A zero PerSecond disables the limit.
type Rate struct {
	PerSecond float64 `yaml:"perSecond" json:"perSecond"`
	Burst     int     `yaml:"burst" json:"burst"`
}

// RateLimitConfig sets the limits per client IP (checked before the token
// is verified, so floods are cheap to refuse) and per user (the decision's
// subject, checked after).
type RateLimitConfig struct {
	PerIP   Rate `yaml:"perIP" json:"perIP"`
	PerUser Rate `yaml:"perUser" json:"perUser"`
	// MaxKeys bounds the number of tracked buckets per kind; 0 = 100,000.
	MaxKeys int `yaml:"maxKeys" json:"maxKeys"`
}

// Limiter is an in-memory token-bucket rate limiter keyed by client IP
// (IPv6 by /64, since one subscriber line gets a whole /64) and by user.
type Limiter struct {
	ip, user *buckets
}

// NewLimiter returns a Limiter; now may be nil (time.Now).
func NewLimiter(cfg RateLimitConfig, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	max := cfg.MaxKeys
	if max <= 0 {
		max = 100000
	}
	return &Limiter{ip: newBuckets(cfg.PerIP, max, now), user: newBuckets(cfg.PerUser, max, now)}
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

type bucket struct {
	tokens float64
	last   time.Time
}

type buckets struct {
	mu   sync.Mutex
	rate Rate
	max  int
	now  func() time.Time
	m    map[string]*bucket
}

func newBuckets(r Rate, max int, now func() time.Time) *buckets {
	if r.Burst < 1 {
		r.Burst = 1
	}
	return &buckets{rate: r, max: max, now: now, m: map[string]*bucket{}}
}

func (b *buckets) allow(key string) (bool, time.Duration) {
	if b.rate.PerSecond <= 0 {
		return true, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.m[key]
	if !ok {
		if len(b.m) >= b.max {
			b.sweep(now)
		}
		k = &bucket{tokens: float64(b.rate.Burst), last: now}
		b.m[key] = k
	} else {
		k.tokens += now.Sub(k.last).Seconds() * b.rate.PerSecond
		if k.tokens > float64(b.rate.Burst) {
			k.tokens = float64(b.rate.Burst)
		}
		k.last = now
	}
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	return false, time.Duration((1 - k.tokens) / b.rate.PerSecond * float64(time.Second))
}

// sweep drops buckets that have refilled (they carry no state); if the map
// is still full, it is reset, which at worst grants a fresh burst.
func (b *buckets) sweep(now time.Time) {
	full := float64(b.rate.Burst) / b.rate.PerSecond
	for k, v := range b.m {
		if now.Sub(v.last).Seconds() >= full {
			delete(b.m, k)
		}
	}
	if len(b.m) >= b.max {
		b.m = map[string]*bucket{}
	}
}
