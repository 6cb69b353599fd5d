package license

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/redisbreaker"
	"github.com/drmpipe/drmpipe/internal/redisclient"
)

// RedisCacheConfig configures the shared license cache.
type RedisCacheConfig struct {
	// Redis is the shared Redis (the redis section): where it is, how to
	// log in, TLS; its Timeout bounds each cache operation and each
	// connection step (0 = 100 ms): a slow or absent Redis must not slow
	// licenses down.
	Redis redisclient.Config
	// Prefix namespaces the keys; "" = "drmpipe:license:".
	Prefix string
}

// RedisCache is a license cache in Redis shared by every replica: entries
// are `SET key value EX ttl`; next to them, one set per tag (jti, user,
// device, content) lists the entry keys for Purge. Any Redis error is
// logged and treated as a miss: Redis down means no cache, not an outage.
type RedisCache struct {
	rdb     *redis.Client
	prefix  string
	timeout time.Duration
	log     *slog.Logger
}

// NewRedisCache connects lazily (no I/O here). log may be nil. hooks are
// added to the client (the server's circuit breaker in front of Redis: an
// open breaker makes every Get a miss at once).
func NewRedisCache(cfg RedisCacheConfig, log *slog.Logger, hooks ...redis.Hook) *RedisCache {
	if cfg.Prefix == "" {
		cfg.Prefix = "drmpipe:license:"
	}
	r := cfg.Redis
	timeout := confcheck.PositiveOr(r.Timeout, 100*time.Millisecond)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rdb := redis.NewClient(&redis.Options{
		Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: r.TLSConfig(),
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries:            -1, // a miss is cheaper than a retry
		ContextTimeoutEnabled: true,
	})
	for _, h := range hooks {
		if h != nil {
			rdb.AddHook(h)
		}
	}
	return &RedisCache{rdb: rdb, prefix: cfg.Prefix, timeout: timeout, log: log}
}

// Close closes the connection pool.
func (c *RedisCache) Close() error { return c.rdb.Close() }

// Shared is true.
func (c *RedisCache) Shared() bool { return true }

type redisEntry struct {
	ContentType string `json:"ct"`
	Body        []byte `json:"b"`
	Tags        Tags   `json:"t"`
}

func (c *RedisCache) entryKey(key string) string { return c.prefix + "e:" + key }
func (c *RedisCache) indexKey(ix string) string  { return c.prefix + "i:" + ix }

// Get implements Cache.
func (c *RedisCache) Get(ctx context.Context, key string) (Response, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, c.entryKey(key)).Bytes()
	if err != nil {
		// An open breaker was logged when it opened: not once per request.
		if !errors.Is(err, redis.Nil) && !errors.Is(err, redisbreaker.ErrOpen) {
			c.log.Warn("license cache: redis get failed, serving without cache", "cause", err.Error())
		}
		return Response{}, false
	}
	var e redisEntry
	if err := json.Unmarshal(b, &e); err != nil {
		c.log.Warn("license cache: undecodable entry", "cause", err.Error())
		return Response{}, false
	}
	return Response{ContentType: e.ContentType, Body: e.Body}, true
}

// Set implements Cache.
func (c *RedisCache) Set(ctx context.Context, key string, resp Response, tags Tags, ttl time.Duration) {
	if ttl < time.Second {
		return
	}
	b, err := json.Marshal(redisEntry{ContentType: resp.ContentType, Body: resp.Body, Tags: tags})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ek := c.entryKey(key)
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, ek, b, ttl)
		for _, ix := range tags.indexes() {
			ik := c.indexKey(ix)
			p.SAdd(ctx, ik, ek)
			// The index lives as long as its longest entry: set a TTL on a
			// new set (NX), lengthen it otherwise (GT); Redis >= 7.0.
			p.ExpireNX(ctx, ik, ttl)
			p.ExpireGT(ctx, ik, ttl)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redisbreaker.ErrOpen) {
		c.log.Warn("license cache: redis set failed", "cause", err.Error())
	}
}

// Purge implements Cache.
func (c *RedisCache) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	if f.empty() {
		return 0, ErrEmptyPurge
	}
	ik := c.indexKey(f.index())
	members, err := c.rdb.SMembers(ctx, ik).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ek := range members {
		b, err := c.rdb.Get(ctx, ek).Bytes()
		if errors.Is(err, redis.Nil) {
			c.rdb.SRem(ctx, ik, ek)
			continue
		}
		if err != nil {
			return n, err
		}
		var e redisEntry
		if json.Unmarshal(b, &e) == nil && !f.matches(e.Tags) {
			continue
		}
		if err := c.rdb.Del(ctx, ek).Err(); err != nil {
			return n, err
		}
		c.rdb.SRem(ctx, ik, ek)
		n++
	}
	return n, nil
}
