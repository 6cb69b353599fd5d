package config

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
	return errs.err()
}
