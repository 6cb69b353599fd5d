package redisstate

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// admitScript is the sliding-window device check, atomic in Redis:
// KEYS[1] = the user's sorted set (member = device ID, score = last seen,
// ms); ARGV = now, cutoff, device, limit, ttl (ms).
var admitScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// Devices is an entitlement.DeviceTracker in Redis: one sorted set per
// user, keyed <prefix>devices:<user>, expiring one window after its last
// change. Times come from the caller's clock, so replicas need roughly
// synchronized clocks (NTP).
type Devices struct {
	keyspace
}

// NewDevices returns a tracker using rdb; prefix "" = DefaultPrefix.
func NewDevices(rdb redis.UniversalClient, prefix string) *Devices {
	return &Devices{newKeyspace(rdb, prefix)}
}

// Admit implements entitlement.DeviceTracker.
func (d *Devices) Admit(ctx context.Context, user, device string, now time.Time, window time.Duration, limit int) (bool, error) {
	ttl := window.Milliseconds()
	if ttl < 1 {
		ttl = 1
	}
	n, err := admitScript.Run(ctx, d.rdb, []string{d.prefix + "devices:" + user},
		now.UnixMilli(), now.Add(-window).UnixMilli(), device, limit, ttl).Int()
	if err != nil {
		return false, unavailable("device admit", err)
	}
	return n == 1, nil
}
