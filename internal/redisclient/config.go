// Package redisclient owns the settings of the optional Redis that drmpipe
// replicas share (the redis section of the configuration file): where it
// is, how to log in, how long a command may take and when the circuit
// breaker of package redisbreaker opens; and it turns them into go-redis
// client options, TLS included.
package redisclient

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/redisbreaker"
)

// ErrConfig is the sentinel of a bad redis setting.
var ErrConfig = errors.New("redis: invalid configuration")

// Defaults of Config.
const (
	DefaultTimeout         = redisbreaker.DefaultTimeout
	DefaultBreakerFailures = redisbreaker.DefaultFailures
	DefaultBreakerOpenFor  = redisbreaker.DefaultOpenFor
	// connTimeout bounds dialing, reading and writing one connection: a
	// Redis outage must cost milliseconds per request, not seconds.
	connTimeout = 300 * time.Millisecond
)

// Config is the optional Redis used for the license cache, device counting
// and revocation fan-out. An empty Addr turns Redis off.
type Config struct {
	// Addr is host:port; empty = no Redis (in-memory cache, single replica).
	Addr string `koanf:"addr" yaml:"addr"`
	// Username for Redis ACLs (Redis 6+); optional.
	Username string `koanf:"username" yaml:"username"`
	// Password is the AUTH password. Secret.
	Password string `koanf:"password" yaml:"password" secret:"true"`
	// DB is the database number.
	DB int `koanf:"db" yaml:"db"`
	// TLS connects with TLS (1.2 or later), verifying the server
	// certificate against the system roots for the host of Addr.
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

// DefaultConfig is the built-in configuration (no Redis).
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, BreakerFailures: DefaultBreakerFailures, BreakerOpenFor: DefaultBreakerOpenFor}
}

// Enabled reports whether Redis is configured.
func (c Config) Enabled() bool { return c.Addr != "" }

// Validate checks the address, database number, timeout and breaker, each
// problem under prefix + "." + its key (prefix is "redis").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	if c.Addr != "" {
		errs.HostPort(key("addr"), c.Addr)
	}
	if c.DB < 0 || c.DB > 15 {
		errs.Add(key("db"), "must be between 0 and 15 (got %d)", c.DB)
	}
	errs.Duration(key("timeout"), c.Timeout, time.Millisecond, 10*time.Second)
	if c.BreakerFailures < 1 || c.BreakerFailures > 1000 {
		errs.Add(key("breaker_failures"), "must be between 1 and 1000 (got %d)", c.BreakerFailures)
	}
	errs.Duration(key("breaker_open_for"), c.BreakerOpenFor, 100*time.Millisecond, 10*time.Minute)
	return errs.Err()
}

// TLSConfig is the client TLS configuration (nil without TLS).
func (c Config) TLSConfig() *tls.Config {
	if !c.TLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
}

// Options are the go-redis options of the shared client: short connection
// timeouts and one retry, so that an outage costs milliseconds; commands
// are bounded by the breaker's timeout through their context.
func (c Config) Options() *redis.Options {
	return &redis.Options{
		Addr: c.Addr, Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: c.TLSConfig(),
		DialTimeout: connTimeout, ReadTimeout: connTimeout, WriteTimeout: connTimeout,
		MaxRetries: 1, DialerRetries: 1, ContextTimeoutEnabled: true,
	}
}

// Breaker is the redisbreaker configuration; onStateChange may be nil.
func (c Config) Breaker(onStateChange func(state string)) redisbreaker.Config {
	return redisbreaker.Config{Timeout: c.Timeout, Failures: uint(max(c.BreakerFailures, 0)), OpenFor: c.BreakerOpenFor, OnStateChange: onStateChange}
}
