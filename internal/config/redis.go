package config

import "time"

// RedisConfig is the optional Redis used for the license cache, device
// counting and revocation fan-out. An empty Addr turns Redis off.
type RedisConfig struct {
	// Addr is host:port; empty = no Redis (in-memory cache, single replica).
	Addr string `koanf:"addr" yaml:"addr"`
	// Username for Redis ACLs (Redis 6+); optional.
	Username string `koanf:"username" yaml:"username"`
	// Password is the AUTH password. Secret.
	Password string `koanf:"password" yaml:"password" secret:"true"`
	// DB is the database number.
	DB int `koanf:"db" yaml:"db"`
	// TLS connects with TLS.
	TLS bool `koanf:"tls" yaml:"tls"`
	// Timeout bounds each Redis command on the license path (token uses,
	// devices, license cache).
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// BreakerFailures consecutive failed commands open the circuit breaker
	// in front of Redis.
	BreakerFailures int `koanf:"breaker_failures" yaml:"breaker_failures"`
	// BreakerOpenFor is how long the breaker stays open before a probe.
	BreakerOpenFor time.Duration `koanf:"breaker_open_for" yaml:"breaker_open_for"`
}

func defaultRedis() RedisConfig {
	return RedisConfig{Timeout: 100 * time.Millisecond, BreakerFailures: 3, BreakerOpenFor: 2 * time.Second}
}

// Enabled reports whether Redis is configured.
func (c RedisConfig) Enabled() bool { return c.Addr != "" }

// Validate checks the address and database number.
func (c RedisConfig) Validate() error {
	var errs errList
	if c.Addr != "" {
		if err := validHostPort(c.Addr); err != nil {
			errs.add("redis.addr", "%v", err)
		}
	}
	if c.DB < 0 || c.DB > 15 {
		errs.add("redis.db", "must be between 0 and 15 (got %d)", c.DB)
	}
	checkDuration(&errs, "redis.timeout", c.Timeout, time.Millisecond, 10*time.Second)
	if c.BreakerFailures < 1 || c.BreakerFailures > 1000 {
		errs.add("redis.breaker_failures", "must be between 1 and 1000 (got %d)", c.BreakerFailures)
	}
	checkDuration(&errs, "redis.breaker_open_for", c.BreakerOpenFor, 100*time.Millisecond, 10*time.Minute)
	return errs.err()
}
