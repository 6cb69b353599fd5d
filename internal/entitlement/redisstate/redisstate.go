// Package redisstate keeps the entitlement service's shared state in Redis,
// so that every replica sees the same device registrations, token uses and
// revocations: DeviceTracker (a sorted set per user), ReplayGuard (a
// counter per token with a TTL) and Revocations (a hash plus an audit list,
// with changes published on a channel every replica subscribes to).
package redisstate

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// DefaultPrefix starts every key and channel name.
const DefaultPrefix = "drmpipe:"

// keyspace is the Redis client and key prefix a tracker works in.
type keyspace struct {
	rdb    redis.UniversalClient
	prefix string
}

// newKeyspace returns rdb with prefix; "" = DefaultPrefix.
func newKeyspace(rdb redis.UniversalClient, prefix string) keyspace {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return keyspace{rdb: rdb, prefix: prefix}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", entitlement.ErrUnavailable, op, err)
}
