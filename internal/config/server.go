package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// ServerConfig is the HTTP server (drmpipe serve).
type ServerConfig struct {
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
	// DataDir holds the SQLite store, the local KEK file and the token
	// signing key.
	DataDir string `koanf:"data_dir" yaml:"data_dir"`
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
	// Demo serves the demo player page and lets drmpipe mint its own
	// playback tokens without an operator JWKS. Never in production.
	Demo bool `koanf:"demo" yaml:"demo"`
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

func defaultServer() ServerConfig {
	return ServerConfig{
		Listen:            ":8080",
		ReadTimeout:       15 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxBodyBytes:      1 << 20,
		ShutdownGrace:     20 * time.Second,
		DataDir:           "data",
		TrustedProxies:    []string{},
	}
}

// Validate checks addresses, timeouts and limits.
func (c ServerConfig) Validate() error {
	var errs errList
	if err := validHostPort(c.Listen); err != nil {
		errs.add("server.listen", "%v", err)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs.add("server.tls", "cert_file and key_file must be set together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		errs.add("server.tls.client_ca_file", "needs server TLS (cert_file and key_file)")
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"server.read_timeout", c.ReadTimeout}, {"server.read_header_timeout", c.ReadHeaderTimeout},
		{"server.write_timeout", c.WriteTimeout}, {"server.idle_timeout", c.IdleTimeout},
	} {
		if t.d < time.Millisecond {
			errs.add(t.key, "must be at least 1ms (got %v); every server timeout is required", t.d)
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout && c.ReadTimeout >= time.Millisecond {
		errs.add("server.read_header_timeout", "%v exceeds read_timeout %v", c.ReadHeaderTimeout, c.ReadTimeout)
	}
	if c.ShutdownGrace < 0 {
		errs.add("server.shutdown_grace", "must not be negative (got %v)", c.ShutdownGrace)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		errs.add("server.max_body_bytes", "must be between 1024 and 67108864 (got %d)", c.MaxBodyBytes)
	}
	if c.MaxConnections < 0 {
		errs.add("server.max_connections", "must not be negative (got %d); 0 derives it from the open-file limit", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		errs.add("server.max_connections_per_ip", "must not be negative (got %d); 0 = 256", c.MaxConnectionsPerIP)
	}
	if c.MaxConnections > 0 && c.MaxConnectionsPerIP > c.MaxConnections {
		errs.add("server.max_connections_per_ip", "%d exceeds max_connections %d", c.MaxConnectionsPerIP, c.MaxConnections)
	}
	if c.DataDir == "" {
		errs.add("server.data_dir", "must not be empty")
	}
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err2 := netip.ParseAddr(p); err2 != nil {
				errs.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not a CIDR or IP address", p)
			}
		}
	}
	return errs.err()
}

// validHostPort accepts host:port with a numeric port (host may be empty).
func validHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", s)
	}
	return nil
}
