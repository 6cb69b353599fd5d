package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

const examplePath = "../../docs/drmpipe.example.yaml"

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "drmpipe.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validDemo is a minimal valid configuration (demo mode needs no JWKS).
const validDemo = "server:\n  demo: true\n"

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
server:
  listen: "127.0.0.1:1111"
  read_timeout: 11s
  write_timeout: 12s
  data_dir: /from/file
  demo: true
observability:
  log:
    level: warn
tokens:
  algorithms: [ES256, RS256, EdDSA]
`)
	env := []string{
		"DRMPIPE_SERVER__LISTEN=127.0.0.1:2222",
		"DRMPIPE_SERVER__WRITE_TIMEOUT=22s",
		"DRMPIPE_TOKENS__ALGORITHMS=RS256,EdDSA",
		"DRMPIPE_CONFIG=/ignored/not/a/key",
		"HOME=/root",
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterFlags(fs)
	fs.String("config", "", "not a config key")
	if err := fs.Parse([]string{"--server.listen=127.0.0.1:3333", "--observability.log.level=debug", "--config=x"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env, fs)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", cfg.Server.Listen, "127.0.0.1:3333"},
		{"flag beats file", cfg.Observability.Log.Level, "debug"},
		{"env beats file", cfg.Server.WriteTimeout, 22 * time.Second},
		{"env list replaces file list", cfg.Tokens.Algorithms, []string{"RS256", "EdDSA"}},
		{"file beats default", cfg.Server.ReadTimeout, 11 * time.Second},
		{"unset flag does not override file", cfg.Server.DataDir, "/from/file"},
		{"default kept", cfg.Server.IdleTimeout, 120 * time.Second},
		{"derived store dsn", cfg.Store.DSN, "sqlite:" + filepath.Join("/from/file", "keys.db")},
		{"derived kek file", cfg.KMS.Local.KEKFile, filepath.Join("/from/file", "kek.json")},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// Without flags the env value wins; without env the file's.
	cfg, _ = Load(path, env, nil)
	if cfg.Server.Listen != "127.0.0.1:2222" {
		t.Errorf("env over file: %s", cfg.Server.Listen)
	}
	cfg, _ = Load(path, []string{}, nil)
	if cfg.Server.Listen != "127.0.0.1:1111" {
		t.Errorf("file: %s", cfg.Server.Listen)
	}
	cfg, _ = Load("", []string{}, nil)
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Tokens.MaxLifetime != 30*time.Second {
		t.Errorf("defaults: %s %v", cfg.Server.Listen, cfg.Tokens.MaxLifetime)
	}
}

func TestEnvNestedMapsAndTypes(t *testing.T) {
	env := []string{
		"DRMPIPE_SERVER__DEMO=true",
		"DRMPIPE_REDIS__DB=3",
		"DRMPIPE_LICENSE__UPSTREAMS__PLAYREADY__TYPE=ezdrm",
		"DRMPIPE_LICENSE__UPSTREAMS__PLAYREADY__URL=https://pr.example/lic",
		"DRMPIPE_LICENSE__UPSTREAMS__PLAYREADY__CREDENTIALS__QUERY__PX=abc123",
		"DRMPIPE_OBSERVABILITY__TRACING__SAMPLE_RATIO=0.25",
	}
	cfg, err := Load("", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := cfg.License.Upstreams["playready"]
	if !cfg.Server.Demo || cfg.Redis.DB != 3 || up.Type != upstream.EZDRM || up.Credentials.Query["px"] != "abc123" || cfg.Observability.Tracing.SampleRatio != 0.25 {
		t.Errorf("decoded %+v %+v", cfg.Server, up)
	}
	if up.Timeout != 2*time.Second || up.Breaker.FailureThreshold != 5 || up.Breaker.OpenFor != 30*time.Second {
		t.Errorf("upstream defaults not applied: %+v", up)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  []string
		want string
	}{
		{"unknown file key", "server:\n  lisen: x\n", nil, "lisen"},
		{"unknown env key", validDemo, []string{"DRMPIPE_SERVER__LISTN=:1"}, "listn"},
		{"bad duration", "server:\n  read_timeout: soon\n", nil, "read_timeout"},
		{"bad yaml", "server: [\n", nil, "file"},
		{"bad int from env", validDemo, []string{"DRMPIPE_REDIS__DB=three"}, "db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.file), append([]string{}, tc.env...), nil)
			if !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrLoad mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), []string{}, nil); !errors.Is(err, ErrLoad) {
		t.Errorf("missing file: %v", err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("server.lisen", "", "")
	_ = fs.Parse([]string{"--server.lisen=:1"})
	if _, err := Load("", []string{}, fs); !errors.Is(err, ErrLoad) {
		t.Errorf("unknown flag key: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		key  string // the key the message must name
	}{
		{"listen", validDemo + "  listen: nope\n", "server.listen"},
		{"tls pair", validDemo + "  tls:\n    cert_file: c.pem\n", "server.tls"},
		{"zero timeout", validDemo + "  write_timeout: 0s\n", "server.write_timeout"},
		{"header over read", validDemo + "  read_timeout: 1s\n  read_header_timeout: 2s\n", "server.read_header_timeout"},
		{"body limit", validDemo + "  max_body_bytes: 10\n", "server.max_body_bytes"},
		{"connections negative", validDemo + "  max_connections: -1\n", "server.max_connections"},
		{"per ip over global", validDemo + "  max_connections: 100\n  max_connections_per_ip: 101\n", "server.max_connections_per_ip"},
		{"trusted proxy", validDemo + "  trusted_proxies: [not-a-cidr]\n", "server.trusted_proxies[0]"},
		{"store scheme", validDemo + "store:\n  dsn: mysql://x/y\n", "store.dsn"},
		{"kms backend", validDemo + "kms:\n  backend: vault\n", "kms.backend"},
		{"pkcs11 pin", validDemo + "kms:\n  backend: pkcs11\n  pkcs11:\n    module: m.so\n    token_label: t\n    key_label: k\n", "kms.pkcs11.pin"},
		{"awskms key", validDemo + "kms:\n  backend: awskms\n  awskms:\n    region: eu-west-1\n", "kms.awskms.key_id"},
		{"broker key short", validDemo + "keys:\n  broker_hmac_key: abcd\n", "keys.broker_hmac_key"},
		{"redis addr", validDemo + "redis:\n  addr: localhost\n", "redis.addr"},
		{"alg none", validDemo + "tokens:\n  algorithms: [none]\n", "tokens.algorithms[0]"},
		{"alg hmac", validDemo + "tokens:\n  algorithms: [ES256, HS256]\n", "tokens.algorithms[1]"},
		{"alg the verifier lacks", validDemo + "tokens:\n  algorithms: [ES256, PS256]\n", "tokens.algorithms[1]"},
		{"token cache zero", validDemo + "tokens:\n  verified_cache_entries: 0\n", "tokens.verified_cache_entries"},
		{"lifetime", validDemo + "tokens:\n  max_lifetime: 48h\n", "tokens.max_lifetime"},
		{"jwks http", validDemo + "tokens:\n  jwks_url: http://idp.example/jwks\n", "tokens.jwks_url"},
		{"production needs issuer", "tokens:\n  audiences: [a]\n  jwks_file: j.json\n", "tokens.issuer"},
		{"production needs jwks", "tokens:\n  issuer: i\n  audiences: [a]\n", "tokens: one of jwks_file"},
		{"cors star", validDemo + "license:\n  cors_origins: ['*']\n", "license.cors_origins[0]"},
		{"cors path", validDemo + "license:\n  cors_origins: ['https://a.example/x']\n", "license.cors_origins[0]"},
		{"burst", validDemo + "license:\n  rate_limit:\n    per_ip: 5\n    per_ip_burst: 0\n", "license.rate_limit.per_ip_burst"},
		{"rate limit buckets", validDemo + "license:\n  rate_limit:\n    max_keys: 0\n", "license.rate_limit.max_keys"},
		{"look ahead", validDemo + "license:\n  look_ahead: -1\n", "license.look_ahead"},
		{"unknown drm", validDemo + "license:\n  upstreams:\n    primetime:\n      type: passthrough\n      url: https://x.example\n", "license.upstreams.primetime"},
		{"clearkey upstream", validDemo + "license:\n  upstreams:\n    clearkey:\n      type: passthrough\n      url: https://x.example\n", "license.upstreams.clearkey"},
		{"vendor type", validDemo + "license:\n  upstreams:\n    widevine:\n      type: magic\n      url: https://x.example\n", "license.upstreams.widevine.type"},
		{"upstream url", validDemo + "license:\n  upstreams:\n    widevine:\n      type: passthrough\n", "license.upstreams.widevine.url"},
		{"upstream http", validDemo + "license:\n  upstreams:\n    widevine:\n      type: passthrough\n      url: http://vendor.example/\n", "license.upstreams.widevine.url"},
		{"upstream creds in url", validDemo + "license:\n  upstreams:\n    widevine:\n      type: passthrough\n      url: https://u:p@vendor.example/\n", "license.upstreams.widevine.url"},
		{"retries", validDemo + "license:\n  upstreams:\n    widevine:\n      type: passthrough\n      url: https://x.example\n      retries: 9\n", "license.upstreams.widevine.retries"},
		{"axinom creds", validDemo + "license:\n  upstreams:\n    playready:\n      type: axinom\n      url: https://x.example\n", "license.upstreams.playready.credentials"},
		{"widevine iv", validDemo + "license:\n  upstreams:\n    widevine:\n      type: widevine\n      url: https://x.example\n      credentials:\n        provider: p\n        key: " + strings.Repeat("ab", 32) + "\n        iv: abcd\n", "license.upstreams.widevine.credentials.iv"},
		{"widevine adapter on playready", validDemo + "license:\n  upstreams:\n    playready:\n      type: widevine\n      url: https://x.example\n", "license.upstreams.playready.type"},
		{"speke system", validDemo + "speke:\n  systems: [marlin]\n", "speke.systems[0]"},
		{"skd prefix", validDemo + "speke:\n  fairplay_key_uri_prefix: https://x\n", "speke.fairplay_key_uri_prefix"},
		{"speke version", validDemo + "speke:\n  client:\n    version: '3'\n", "speke.client.version"},
		{"log level", validDemo + "observability:\n  log:\n    level: loud\n", "observability.log.level"},
		{"tracing exporter", validDemo + "observability:\n  tracing:\n    exporter: zipkin\n", "observability.tracing"},
		{"tracing endpoint", validDemo + "observability:\n  tracing:\n    exporter: otlphttp\n", "observability.tracing"},
		{"metrics path", validDemo + "observability:\n  metrics:\n    path: metrics\n", "observability.metrics.path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantInvalid(t, tc.yaml, tc.key) })
	}
	// The same base without the fault is valid, so each case fails for its own reason.
	cfg, err := Load(writeFile(t, validDemo), []string{}, nil)
	if err != nil || cfg.Validate() != nil {
		t.Fatalf("base config: %v / %v", err, cfg.Validate())
	}
}

// TestMaskedAndPrint sets every secret to a unique value and checks that
// neither Masked nor Print reveals any of them, while non-secrets stay.
func TestMaskedAndPrint(t *testing.T) {
	cfg, err := Load(examplePath, []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wv := cfg.License.Upstreams["widevine"]
	secrets := []struct {
		key string
		val string
		set func(string)
	}{
		{"store.dsn (password)", "pg-S3cret-pw", func(v string) { cfg.Store.DSN = "postgres://drm:" + v + "@db.example:5432/drmpipe?sslmode=require" }},
		{"jobs.dsn (password)", "pg-J0bs-pw", func(v string) { cfg.Jobs.DSN = "postgres://river:" + v + "@db.example:5432/jobs" }},
		{"kms.pkcs11.pin", "pin-771234", func(v string) { cfg.KMS.PKCS11.PIN = v }},
		{"kms.awskms.secret_access_key", "aws-sk-Zx81", func(v string) { cfg.KMS.AWSKMS.SecretAccessKey = v }},
		{"kms.awskms.session_token", "aws-st-Qw27", func(v string) { cfg.KMS.AWSKMS.SessionToken = v }},
		{"keys.broker_hmac_key", "hmac-k-0f0f0f", func(v string) { cfg.Keys.BrokerHMACKey = v }},
		{"redis.password", "redis-pw-9q", func(v string) { cfg.Redis.Password = v }},
		{"credentials.key", "vendor-key-aa", func(v string) { wv.Credentials.Key = v }},
		{"credentials.iv", "vendor-iv-bb", func(v string) { wv.Credentials.IV = v }},
		{"credentials.password", "vendor-pw-cc", func(v string) { wv.Credentials.Password = v }},
		{"credentials.token", "vendor-tok-dd", func(v string) { wv.Credentials.Token = v }},
		{"credentials.headers.*", "hdr-val-ee", func(v string) { wv.Credentials.Headers = map[string]string{"X-Api-Key": v} }},
		{"credentials.query.*", "q-val-ff", func(v string) { wv.Credentials.Query = map[string]string{"pX": v} }},
		{"speke.client.token", "speke-tok-gg", func(v string) { cfg.SPEKE.Client.Token = v }},
		{"policy.subscription.headers.*", "sub-hdr-ii", func(v string) { cfg.Policy.Subscription.Headers = map[string]string{"Authorization": v} }},
		{"observability.tracing.headers.*", "otel-hdr-hh", func(v string) { cfg.Observability.Tracing.Headers = map[string]string{"api-key": v} }},
	}
	for _, s := range secrets {
		s.set(s.val)
	}
	cfg.License.Upstreams["widevine"] = wv

	// Every secret-tagged field is in the table above.
	var tagged int
	for _, o := range Options() {
		if o.Secret {
			tagged++
		}
	}
	if tagged != len(secrets) {
		t.Errorf("%d secret options, %d in the test table", tagged, len(secrets))
	}

	before := cfg.License.Upstreams["widevine"].Credentials.Headers["X-Api-Key"]
	var buf bytes.Buffer
	if err := Print(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s.val) {
			t.Errorf("%s leaked in Print output", s.key)
		}
	}
	if n := strings.Count(out, Mask); n < len(secrets) {
		t.Errorf("%d masks for %d secrets:\n%s", n, len(secrets), out)
	}
	for _, keep := range []string{"postgres://drm:" + Mask + "@db.example:5432/drmpipe?sslmode=require", "X-Api-Key: '" + Mask + "'", "listen: :8443", "issuer: https://auth.example.com/"} {
		if !strings.Contains(out, keep) {
			t.Errorf("Print output lacks %q", keep)
		}
	}
	if cfg.License.Upstreams["widevine"].Credentials.Headers["X-Api-Key"] != before || cfg.KMS.PKCS11.PIN != "pin-771234" {
		t.Error("Masked modified the original")
	}
	// Printed output loads back.
	p := writeFile(t, out)
	if _, err := Load(p, []string{}, nil); err != nil {
		t.Errorf("printed config does not load: %v", err)
	}
	// Empty secrets stay empty (nothing to hide, and "unset" stays visible).
	if m := Default().Masked(); m.Redis.Password != "" || m.KMS.PKCS11.PIN != "" {
		t.Error("empty secret printed as masked")
	}
}

func TestExampleLoadsAndValidates(t *testing.T) {
	cfg, err := Load(examplePath, []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example does not validate: %v", err)
	}
	if cfg.Server.Listen != ":8443" || cfg.License.Upstreams["fairplay"].Type != upstream.DRMtoday {
		t.Errorf("example not read: %+v", cfg.Server)
	}
}

// TestDocsComplete checks that the example file sets every option and
// that docs/config.md names every option's key and environment variable.
func TestDocsComplete(t *testing.T) {
	k := koanf.New(".")
	if err := k.Load(file.Provider(examplePath), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options() {
		key := strings.ReplaceAll(o.Key, "<drm>", "widevine")
		key = strings.TrimSuffix(key, ".<name>")
		if !k.Exists(key) {
			t.Errorf("example lacks %s", key)
		}
		if !bytes.Contains(doc, []byte("`"+o.Key+"`")) || !bytes.Contains(doc, []byte("`"+o.Env+"`")) {
			t.Errorf("docs/config.md lacks %s / %s", o.Key, o.Env)
		}
	}
}

// TestUpstreamOptionsFromFile: every upstream option of package
// license/upstream is set from the file (DRMtoday token mode, FairPlay
// body, certificate URL, failure-rate breaker, retry backoff, a whole
// secondary block), reaches the one upstream.Config, is checked with its
// key, and a secondary's secrets are masked like the primary's.
func TestUpstreamOptionsFromFile(t *testing.T) {
	up := validDemo + `license:
  upstreams:
    fairplay:
      type: drmtoday
      url: https://lic.drmtoday.example/fps
      certificate_url: https://lic.drmtoday.example/cert
      certificate_ttl: 10m
      drmtoday:
        mode: token
      credentials:
        provider: acme
        token: dt-secret-51
      breaker:
        failure_ratio: 0.4
        min_requests: 7
        window: 20s
      retries: 2
      retry:
        backoff: 20ms
    widevine:
      type: passthrough
      url: https://wv.example/lic
      fairplay_body: json
      max_response_bytes: 4096
      secondary:
        type: axinom
        url: https://wv2.example/lic
        credentials:
          key_id: 8b3c6d4e-0f1a-4b2c-9d3e-5f6a7b8c9d0e
          key: c2Vjb25kYXJ5LWNvbS1rZXk=
`
	cfg, err := Load(writeFile(t, up), []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	fp, wv := cfg.License.Upstreams["fairplay"], cfg.License.Upstreams["widevine"]
	if fp.DRMtoday.Mode != upstream.DRMtodayModeToken || fp.CertificateURL != "https://lic.drmtoday.example/cert" || fp.CertificateTTL != 10*time.Minute ||
		fp.Breaker.FailureRatio != 0.4 || fp.Breaker.MinRequests != 7 || fp.Breaker.Window != 20*time.Second || fp.Breaker.FailureThreshold != 0 ||
		fp.Retries != 2 || fp.Retry.Backoff != 20*time.Millisecond {
		t.Errorf("fairplay upstream %+v", fp)
	}
	if wv.FairPlayBody != upstream.BodyJSON || wv.MaxResponseBytes != 4096 || wv.Secondary == nil || wv.Secondary.Type != upstream.Axinom {
		t.Errorf("widevine upstream %+v", wv)
	}
	var buf bytes.Buffer
	if err := Print(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"dt-secret-51", "c2Vjb25kYXJ5LWNvbS1rZXk="} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("secret %q printed", s)
		}
	}
	if wv.Secondary.Credentials.Key != "c2Vjb25kYXJ5LWNvbS1rZXk=" {
		t.Error("Masked modified the secondary")
	}

	for _, tc := range []struct{ yaml, key string }{
		{"    fairplay:\n      type: drmtoday\n      url: https://x.example\n      certificate_file: c.cer\n      credentials:\n        provider: acme\n      drmtoday:\n        mode: token\n", "license.upstreams.fairplay.credentials.token"},
		{"    fairplay:\n      type: drmtoday\n      url: https://x.example\n      certificate_file: c.cer\n      credentials:\n        provider: acme\n      drmtoday:\n        mode: upfront\n", "license.upstreams.fairplay.drmtoday.mode"},
		{"    widevine:\n      type: passthrough\n      url: https://x.example\n      fairplay_body: xml\n", "license.upstreams.widevine.fairplay_body"},
		{"    widevine:\n      type: passthrough\n      url: https://x.example\n      breaker:\n        failure_ratio: 1.5\n", "license.upstreams.widevine.breaker.failure_ratio"},
		{"    widevine:\n      type: passthrough\n      url: https://x.example\n      breaker:\n        failure_threshold: 3\n        failure_ratio: 0.5\n", "license.upstreams.widevine.breaker"},
		{"    widevine:\n      type: passthrough\n      url: https://x.example\n      secondary:\n        type: passthrough\n", "license.upstreams.widevine.secondary.url"},
		{"    fairplay:\n      type: passthrough\n      url: https://x.example\n", "license.upstreams.fairplay.certificate_file"},
	} {
		cfg, err := Load(writeFile(t, validDemo+"license:\n  upstreams:\n"+tc.yaml), []string{}, nil)
		if err != nil {
			t.Fatalf("%s: Load: %v", tc.key, err)
		}
		if err := cfg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("Validate = %v, want ErrInvalid naming %s", err, tc.key)
		}
	}
}

// TestKMSBackendOptionsFromFile: the KMS section is the backends' own
// Config types, so every backend option is settable from the file.
func TestKMSBackendOptionsFromFile(t *testing.T) {
	cfg, err := Load(writeFile(t, validDemo+"kms:\n  backend: awskms\n  pkcs11:\n    max_sessions: 3\n    timeout: 4s\n  awskms:\n    key_id: alias/x\n    region: eu-west-1\n    max_attempts: 2\n    timeout: 3s\n    session_token: st-91\n"), []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, a := cfg.KMS.PKCS11, cfg.KMS.AWSKMS
	if p.MaxSessions != 3 || p.Timeout != 4*time.Second || !p.CreateIfMissing || a.MaxAttempts != 2 || a.Timeout != 3*time.Second || a.SessionToken != "st-91" {
		t.Errorf("kms %+v / %v", p, a)
	}
}

// wantInvalid loads yaml (which must load) and requires Validate to fail
// with ErrInvalid and a message that names key.
func wantInvalid(t *testing.T, yaml, key string) {
	t.Helper()
	cfg, err := Load(writeFile(t, yaml), []string{}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	err = cfg.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("message %q does not name %s", err, key)
	}
}
