package redisstate

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// useScript counts one use: KEYS[1] = the token's counter; ARGV[1] = TTL
// (ms) set on the first use.
var useScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Replay is an entitlement.ReplayGuard in Redis: one counter per token,
// keyed <prefix>jti:<id>, expiring ttl after the first use.
type Replay struct {
	keyspace
}

// NewReplay returns a guard using rdb; prefix "" = DefaultPrefix.
func NewReplay(rdb redis.UniversalClient, prefix string) *Replay {
	return &Replay{newKeyspace(rdb, prefix)}
}

// Use implements entitlement.ReplayGuard. issued and now are unused: Redis
// expires the counter on its own clock.
func (r *Replay) Use(ctx context.Context, id string, _, _ time.Time, ttl time.Duration) (int64, error) {
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	n, err := useScript.Run(ctx, r.rdb, []string{r.prefix + "jti:" + id}, ms).Int64()
	if err != nil {
		return 0, unavailable("token use", err)
	}
	return n, nil
}
