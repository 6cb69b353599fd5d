package observability

import (
	"strings"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Config is logging, tracing and metrics: the observability section of
// the configuration file.
type Config struct {
	Log     LogConfig     `koanf:"log" yaml:"log"`
	Tracing TracingConfig `koanf:"tracing" yaml:"tracing"`
	Metrics MetricsConfig `koanf:"metrics" yaml:"metrics"`
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	// Enabled serves Prometheus metrics at Path.
	Enabled bool `koanf:"enabled" yaml:"enabled"`
	// Path is where metrics are served on the main listener.
	Path string `koanf:"path" yaml:"path"`
}

// Defaults of Config.
const (
	DefaultLogLevel    = "info"
	DefaultMetricsPath = "/metrics"
)

// DefaultConfig is the built-in configuration: info logs, no span export
// (every trace sampled once an exporter is set), metrics at /metrics.
func DefaultConfig() Config {
	return Config{
		Log:     LogConfig{Level: DefaultLogLevel},
		Tracing: TracingConfig{Exporter: ExporterNone, SampleRatio: 1, ServiceName: DefaultServiceName, Headers: map[string]string{}},
		Metrics: MetricsConfig{Enabled: true, Path: DefaultMetricsPath},
	}
}

// Validate checks each part, each problem under prefix + "." + its key
// (prefix is "observability").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	msg := func(err error) string { return strings.TrimPrefix(err.Error(), ErrConfig.Error()+": ") }
	if err := c.Log.Validate(); err != nil {
		errs.Add(key("log.level"), "%s", msg(err))
	}
	if err := c.Tracing.Validate(); err != nil {
		errs.Add(key("tracing"), "%s", msg(err))
	}
	if c.Metrics.Enabled && !strings.HasPrefix(c.Metrics.Path, "/") {
		errs.Add(key("metrics.path"), "must start with / (got %q)", c.Metrics.Path)
	}
	return errs.Err()
}
