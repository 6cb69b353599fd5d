package redisclient_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/redisclient"
)

// TestOptionsTLS: redis.tls reaches the go-redis client (it used to be
// read, validated and documented, then never applied: the client spoke
// plain TCP to a TLS Redis).
func TestOptionsTLS(t *testing.T) {
	c := redisclient.DefaultConfig()
	c.Addr = "redis.internal.example:6380"
	if c.Options().TLSConfig != nil {
		t.Fatal("TLS without redis.tls")
	}
	c.TLS = true
	tc := c.Options().TLSConfig
	if tc == nil || tc.ServerName != "redis.internal.example" || tc.MinVersion < tls.VersionTLS12 || tc.InsecureSkipVerify {
		t.Fatalf("TLS config %+v", tc)
	}
	o := c.Options()
	if o.Addr != c.Addr || !o.ContextTimeoutEnabled {
		t.Errorf("options %+v", o)
	}
	if b := c.Breaker(nil); b.Timeout != redisclient.DefaultTimeout || b.Failures != redisclient.DefaultBreakerFailures || b.OpenFor != redisclient.DefaultBreakerOpenFor {
		t.Errorf("breaker %+v", b)
	}
}

func TestValidate(t *testing.T) {
	if err := redisclient.DefaultConfig().Validate("redis"); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := redisclient.DefaultConfig()
	c.Addr, c.DB, c.BreakerFailures = "localhost", 16, 0
	err := c.Validate("redis")
	if !errors.Is(err, redisclient.ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, k := range []string{"redis.addr", "redis.db", "redis.breaker_failures"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%v does not name %s", err, k)
		}
	}
}
