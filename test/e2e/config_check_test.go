package e2e

import (
	"strings"
	"testing"
)

// TestConfigCheckMasksSecrets: `drmpipe config check` validates and prints
// the effective configuration (file < env) with every secret set through
// the environment shown as ****** and never in clear (issue 6).
func TestConfigCheckMasksSecrets(t *testing.T) {
	// t.Setenv: not parallel (the CLI reads the process environment).
	const (
		vendorKey    = "vendor-signing-key-3f9d2a71c4"
		vendorHeader = "vendor-header-secret-8e41b0"
		pin          = "hsm-pin-602718"
		dbPassword   = "db-password-a7c3e9"
		redisPass    = "redis-password-41d8"
	)
	d := newDeployment(t, setup{Upstreams: map[string]any{
		"widevine": map[string]any{"type": "passthrough", "url": "https://license.vendor.example/wv",
			"credentials": map[string]any{"headers": map[string]string{"X-Api-Key": vendorHeader}}},
	}})
	for _, s := range []string{vendorKey, vendorHeader, pin, dbPassword, redisPass} {
		d.secrets.addString("configured secret", s)
	}
	t.Setenv("DRMPIPE_LICENSE__UPSTREAMS__WIDEVINE__CREDENTIALS__KEY", vendorKey)
	t.Setenv("DRMPIPE_KMS__PKCS11__PIN", pin)
	t.Setenv("DRMPIPE_STORE__DSN", "postgres://drmpipe:"+dbPassword+"@db.internal:5432/drmpipe?sslmode=require")
	t.Setenv("DRMPIPE_REDIS__PASSWORD", redisPass)
	t.Setenv("DRMPIPE_SERVER__READ_TIMEOUT", "11s") // env wins over the file's default

	stdout, stderr, code := d.cli(t, "config", "check", "--config", d.cfgFile)
	if code != 0 {
		t.Fatalf("drmpipe config check: exit %d\n%s", code, stderr)
	}
	out := stdout + stderr
	for name, s := range map[string]string{"vendor key": vendorKey, "vendor header": vendorHeader, "PKCS#11 PIN": pin, "database password": dbPassword, "Redis password": redisPass} {
		if strings.Contains(out, s) {
			t.Errorf("config check printed the %s in clear", name)
		}
	}
	if n := strings.Count(stdout, "******"); n < 5 {
		t.Errorf("config check shows %d masked values, want at least 5 (key, header, PIN, DSN password, Redis password):\n%s", n, stdout)
	}
	for _, want := range []string{"db.internal:5432", "read_timeout: 11s", "https://license.vendor.example/wv"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config check output lacks %q (non-secret values must stay visible)", want)
		}
	}

	// An invalid configuration is refused, naming the key.
	t.Setenv("DRMPIPE_LICENSE__CORS_ORIGINS", "*")
	_, stderr, code = d.cli(t, "config", "check", "--config", d.cfgFile)
	if code == 0 || !strings.Contains(stderr, "license.cors_origins") {
		t.Errorf("config check with cors_origins *: exit %d, stderr %q", code, stderr)
	}
}
