// Package httpconf owns the settings of drmpipe's HTTP listener (the
// listener part of the server section of the configuration file): address,
// TLS, timeouts, body limit, shutdown grace, connection caps and trusted
// proxies, with their defaults and checks. It is a leaf package so that
// both package config (which composes it) and package server (which runs
// the listener) can use it.
package httpconf

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// ErrConfig is the sentinel of a bad listener setting.
var ErrConfig = errors.New("server: invalid configuration")

// Defaults of Config. The listen address is loopback: serving other hosts
// is a decision to write down (server.listen: ":8080" or a public address).
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultReadTimeout       = 15 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxBodyBytes      = 1 << 20
	DefaultShutdownGrace     = 20 * time.Second
)

// Config is the HTTP listener.
type Config struct {
	// Listen is the host:port the server binds.
	Listen string `koanf:"listen" yaml:"listen"`
	// TLS enables HTTPS (and HTTP/2) when both files are set.
	TLS TLSConfig `koanf:"tls" yaml:"tls"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `koanf:"read_timeout" yaml:"read_timeout"`
	// ReadHeaderTimeout bounds reading request headers (slowloris guard).
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" yaml:"read_header_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `koanf:"write_timeout" yaml:"write_timeout"`
	// IdleTimeout bounds keep-alive idle connections.
	IdleTimeout time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// MaxBodyBytes limits request bodies (license challenges, SPEKE/CPIX
	// documents); larger bodies get 413.
	MaxBodyBytes int64 `koanf:"max_body_bytes" yaml:"max_body_bytes"`
	// ShutdownGrace is how long SIGTERM waits for in-flight requests.
	ShutdownGrace time.Duration `koanf:"shutdown_grace" yaml:"shutdown_grace"`
	// MaxConnections caps the open client connections; 0 derives it from
	// the open-file limit (80% of it, at most 65536).
	MaxConnections int `koanf:"max_connections" yaml:"max_connections"`
	// MaxConnectionsPerIP caps the open connections of one client address
	// (IPv6 by /64), trusted proxies excepted; 0 = 256, at most a quarter
	// of max_connections.
	MaxConnectionsPerIP int `koanf:"max_connections_per_ip" yaml:"max_connections_per_ip"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed when
	// resolving the client IP (geography, rate limits); their connections
	// are not held to max_connections_per_ip.
	TrustedProxies []string `koanf:"trusted_proxies" yaml:"trusted_proxies"`
}

// TLSConfig names the server certificate and key (PEM files).
type TLSConfig struct {
	CertFile string `koanf:"cert_file" yaml:"cert_file"`
	KeyFile  string `koanf:"key_file" yaml:"key_file"`
	// ClientCAFile (PEM) enables client certificates: a certificate signed
	// by one of these CAs is verified when a client presents one (mTLS for
	// SPEKE encryptors, see speke.mtls_clients); clients without one still
	// connect and use API keys.
	ClientCAFile string `koanf:"client_ca_file" yaml:"client_ca_file"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Default is the built-in listener configuration.
func Default() Config {
	return Config{
		Listen:            DefaultListen,
		ReadTimeout:       DefaultReadTimeout,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		ShutdownGrace:     DefaultShutdownGrace,
		TrustedProxies:    []string{},
	}
}

// Validate checks addresses, timeouts and limits, each problem under
// prefix + "." + its key (prefix is "server").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	errs.HostPort(key("listen"), c.Listen)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs.Add(key("tls"), "cert_file and key_file must be set together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		errs.Add(key("tls.client_ca_file"), "needs server TLS (cert_file and key_file)")
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"read_timeout", c.ReadTimeout}, {"read_header_timeout", c.ReadHeaderTimeout},
		{"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout},
	} {
		if t.d < time.Millisecond {
			errs.Add(key(t.key), "must be at least 1ms (got %v); every server timeout is required", t.d)
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout && c.ReadTimeout >= time.Millisecond {
		errs.Add(key("read_header_timeout"), "%v exceeds read_timeout %v", c.ReadHeaderTimeout, c.ReadTimeout)
	}
	if c.ShutdownGrace < 0 {
		errs.Add(key("shutdown_grace"), "must not be negative (got %v)", c.ShutdownGrace)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		errs.Add(key("max_body_bytes"), "must be between 1024 and 67108864 (got %d)", c.MaxBodyBytes)
	}
	if c.MaxConnections < 0 {
		errs.Add(key("max_connections"), "must not be negative (got %d); 0 derives it from the open-file limit", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		errs.Add(key("max_connections_per_ip"), "must not be negative (got %d); 0 = 256", c.MaxConnectionsPerIP)
	}
	if c.MaxConnections > 0 && c.MaxConnectionsPerIP > c.MaxConnections {
		errs.Add(key("max_connections_per_ip"), "%d exceeds max_connections %d", c.MaxConnectionsPerIP, c.MaxConnections)
	}
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err2 := netip.ParseAddr(p); err2 != nil {
				errs.Add(fmt.Sprintf("%s[%d]", key("trusted_proxies"), i), "%q is not a CIDR or IP address", p)
			}
		}
	}
	return errs.Err()
}
