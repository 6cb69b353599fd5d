package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/live"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/redisclient"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// EnvPrefix starts every configuration environment variable; "__"
// separates nesting levels: DRMPIPE_SERVER__LISTEN = server.listen.
const EnvPrefix = "DRMPIPE_"

// Mask replaces secret values in Masked and Print output.
const Mask = observability.Mask

// Config is the whole drmpipe configuration.
type Config struct {
	Server        ServerConfig             `koanf:"server" yaml:"server"`
	Store         sqlstore.Config          `koanf:"store" yaml:"store"`
	KMS           keystore.KMSConfig       `koanf:"kms" yaml:"kms"`
	Keys          KeysConfig               `koanf:"keys" yaml:"keys"`
	Redis         redisclient.Config       `koanf:"redis" yaml:"redis"`
	Tokens        entitlement.TokensConfig `koanf:"tokens" yaml:"tokens"`
	License       LicenseConfig            `koanf:"license" yaml:"license"`
	Policy        entitlement.PolicyConfig `koanf:"policy" yaml:"policy"`
	SPEKE         speke.Config             `koanf:"speke" yaml:"speke"`
	Observability observability.Config     `koanf:"observability" yaml:"observability"`
	Jobs          jobs.Config              `koanf:"jobs" yaml:"jobs"`
	Live          live.ServeConfig         `koanf:"live" yaml:"live"`
}

// Default returns the built-in defaults (before derived values such as
// the store DSN are filled from the data directory).
func Default() *Config {
	return &Config{
		Server:        defaultServer(),
		Store:         sqlstore.DefaultConfig(),
		KMS:           keystore.DefaultKMSConfig(),
		Keys:          defaultKeys(),
		Redis:         redisclient.DefaultConfig(),
		Tokens:        entitlement.DefaultTokensConfig(),
		License:       defaultLicense(),
		Policy:        entitlement.DefaultPolicyConfig(),
		SPEKE:         speke.DefaultConfig(),
		Observability: observability.DefaultConfig(),
		Jobs:          jobs.DefaultConfig(),
		Live:          live.DefaultServeConfig(),
	}
}

// resolve fills values derived from others (paths under the data dir,
// per-upstream defaults).
func (c *Config) resolve() {
	c.Store.ResolvePaths(c.Server.DataDir)
	c.KMS.ResolvePaths(c.Server.DataDir)
	c.Tokens.ResolvePaths(c.Server.DataDir)
	c.License.resolve()
	c.Policy.Normalize()
	c.Jobs.ResolveDSN(c.Store.DSN, c.Server.DataDir)
	c.Live.ResolvePaths(c.Server.DataDir)
}

// Validate checks every section and returns all problems at once, each
// wrapping ErrInvalid and naming its key.
func (c *Config) Validate() error {
	var errs errList
	errs.merge(c.Server.Validate())
	errs.domain(c.Store.Validate("store"))
	errs.domain(c.KMS.Validate("kms"))
	errs.domain(c.Keys.Validate("keys"))
	errs.domain(c.Redis.Validate("redis"))
	errs.domain(c.Tokens.Validate("tokens", c.Server.Demo))
	errs.merge(c.License.Validate())
	errs.domain(c.Policy.Validate("policy"))
	errs.domain(c.SPEKE.Validate("speke"))
	errs.domain(c.Observability.Validate("observability"))
	errs.domain(c.Jobs.Validate("jobs"))
	errs.domain(c.Live.Validate("live"))
	return errs.err()
}

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty), then DRMPIPE_ variables from env (os.Environ() when
// env is nil), then the flags of fs that were set (fs may be nil). It
// fills derived defaults but does not validate: call Validate.
//
// Environment variables: DRMPIPE_ + upper-case key path with "__" between
// levels (DRMPIPE_SERVER__READ_TIMEOUT, DRMPIPE_LICENSE__UPSTREAMS__WIDEVINE__URL);
// variables without "__" (DRMPIPE_CONFIG, ...) are not configuration and are
// ignored. Lists take comma-separated values.
//
// Flags: a flag named by its key path, dashes for underscores
// (--server.listen, --server.data-dir, --observability.log.level), is
// applied when set on the command line; flags without a dot in their name
// are not configuration and are ignored. RegisterFlags defines the common
// ones.
//
// Unknown keys in any source are an error wrapping ErrLoad, so a typo never
// silently falls back to a default.
func Load(path string, env []string, fs *pflag.FlagSet) (*Config, error) {
	k := koanf.New(".")
	defaults, err := yamlv3.Marshal(Default())
	if err != nil {
		return nil, fmt.Errorf("%w: defaults: %w", ErrLoad, err)
	}
	if err := k.Load(rawBytes(defaults), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("%w: defaults: %w", ErrLoad, err)
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("%w: file %s: %w", ErrLoad, path, err)
		}
	}
	if env == nil {
		env = os.Environ()
	}
	envProvider := env2Provider(env)
	if err := k.Load(envProvider, nil); err != nil {
		return nil, fmt.Errorf("%w: environment: %w", ErrLoad, err)
	}
	if fs != nil {
		fp := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
			if !strings.Contains(f.Name, ".") {
				return "", nil
			}
			return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(fs, f)
		})
		if err := k.Load(fp, nil); err != nil {
			return nil, fmt.Errorf("%w: flags: %w", ErrLoad, err)
		}
	}

	var cfg Config
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
				mapstructure.TextUnmarshallerHookFunc(),
				saturateUnsigned,
			),
			WeaklyTypedInput: true,
			ErrorUnused:      true,
			Result:           &cfg,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoad, cleanDecodeError(err))
	}
	cfg.resolve()
	return &cfg, nil
}

// env2Provider reads DRMPIPE_A__B_C=v as a.b_c=v.
func env2Provider(environ []string) *env.Env {
	return env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			k = strings.TrimPrefix(k, EnvPrefix)
			if !strings.Contains(k, "__") {
				return "", nil
			}
			return strings.ToLower(strings.ReplaceAll(k, "__", ".")), v
		},
	})
}

// cleanDecodeError turns mapstructure's multi-line message (which names
// keys, never the values of unknown keys) into one line: "a; b; c".
func cleanDecodeError(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed due to") {
			continue
		}
		parts = append(parts, line)
	}
	if len(parts) == 0 {
		return err.Error()
	}
	return strings.Join(parts, "; ")
}

// saturateUnsigned turns a negative or too large integer bound for an
// unsigned field into the field type's largest value, which a bounded
// field's Validate refuses with its key, instead of letting it wrap around
// (-1 or 261 would otherwise land on a valid security level).
func saturateUnsigned(_ reflect.Type, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	top := uint64(math.MaxUint64) >> (64 - to.Bits())
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i := v.Int(); i < 0 || reflect.New(to).Elem().OverflowUint(uint64(i)) {
			return top, nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if reflect.New(to).Elem().OverflowUint(v.Uint()) {
			return top, nil
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); f < 0 || f > float64(top) {
			return top, nil
		}
	default: // text: mapstructure's own conversion checks it
	}
	return data, nil
}

// rawBytes is a koanf.Provider over bytes in memory.
type rawBytes []byte

func (b rawBytes) ReadBytes() ([]byte, error) { return b, nil }
func (b rawBytes) Read() (map[string]any, error) {
	return nil, errors.New("rawBytes: Read is not supported")
}

// RegisterFlags defines the commonly overridden options on fs, named by
// key path; Load applies those that are set. Defaults shown in help are
// the built-in ones; unset flags never override the file or environment.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String("server.listen", d.Server.Listen, "listen address host:port")
	fs.String("server.data-dir", d.Server.DataDir, "data directory (SQLite store, local KEK, token signing key)")
	fs.Bool("server.demo", d.Server.Demo, "demo mode: demo page, drmpipe-minted tokens; never in production")
	fs.String("server.tls.cert-file", "", "TLS certificate (PEM)")
	fs.String("server.tls.key-file", "", "TLS private key (PEM)")
	fs.String("store.dsn", "", "key store: sqlite:PATH or postgres://... (default sqlite:<data-dir>/keys.db)")
	fs.String("kms.backend", string(d.KMS.Backend), "KMS backend: local, pkcs11 or awskms")
	fs.String("redis.addr", "", "Redis host:port (empty = no Redis)")
	fs.String("observability.log.level", d.Observability.Log.Level, "log level: debug, info, warn, error")
	fs.String("observability.tracing.exporter", string(d.Observability.Tracing.Exporter), "span exporter: none, otlphttp, stdout")
	fs.String("observability.tracing.endpoint", "", "OTLP/HTTP traces URL")
	fs.Bool("observability.metrics.enabled", d.Observability.Metrics.Enabled, "serve Prometheus metrics")
}

// KeyStore is where the key store and its KEK are (server.data_dir,
// store.dsn, kms.*).
func (c *Config) KeyStore() keystore.Config {
	return keystore.Config{DataDir: c.Server.DataDir, DSN: c.Store.DSN, KMS: c.KMS}
}
