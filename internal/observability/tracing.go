package observability

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Exporter names where spans go.
type Exporter string

// Span exporters.
const (
	// ExporterNone records nothing (the default); incoming trace context is
	// still propagated to upstream calls.
	ExporterNone Exporter = "none"
	// ExporterOTLPHTTP sends spans over OTLP/HTTP (protobuf) to a collector,
	// Jaeger or Tempo.
	ExporterOTLPHTTP Exporter = "otlphttp"
	// ExporterStdout writes spans as JSON to standard output, for debugging.
	ExporterStdout Exporter = "stdout"
)

// ParseExporter parses an exporter name; "" is ExporterNone.
func ParseExporter(s string) (Exporter, error) {
	switch e := Exporter(strings.ToLower(strings.TrimSpace(s))); e {
	case "":
		return ExporterNone, nil
	case ExporterNone, ExporterOTLPHTTP, ExporterStdout:
		return e, nil
	}
	return "", fmt.Errorf("%w: tracing exporter %q (want none, otlphttp or stdout)", ErrConfig, s)
}

// DefaultServiceName is the service.name resource attribute when none is
// configured.
const DefaultServiceName = "drmpipe"

// TracingConfig configures span export.
type TracingConfig struct {
	// Exporter: none (default), otlphttp or stdout.
	Exporter Exporter `koanf:"exporter" yaml:"exporter"`
	// Endpoint is the OTLP/HTTP traces URL, e.g.
	// http://collector:4318/v1/traces (http:// sends without TLS).
	Endpoint string `koanf:"endpoint" yaml:"endpoint"`
	// Headers are added to every export request (e.g. a collector API key).
	// Their values are secrets.
	Headers map[string]string `koanf:"headers" yaml:"headers" secret:"values"`
	// SampleRatio is the fraction of new traces recorded, 0..1; a sampled
	// parent is always followed (parent-based sampling).
	SampleRatio float64 `koanf:"sample_ratio" yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `koanf:"service_name" yaml:"service_name"`
}

// Validate checks the exporter, endpoint and ratio.
func (c TracingConfig) Validate() error {
	e, err := ParseExporter(string(c.Exporter))
	if err != nil {
		return err
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("%w: tracing sample_ratio %v is outside 0..1", ErrConfig, c.SampleRatio)
	}
	if e == ExporterOTLPHTTP {
		if c.Endpoint == "" {
			return fmt.Errorf("%w: tracing exporter otlphttp needs an endpoint URL", ErrConfig)
		}
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: tracing endpoint must be an http:// or https:// URL", ErrConfig)
		}
	}
	return nil
}

// TracerOption adjusts NewTracerProvider.
type TracerOption func(*tracerOptions)

type tracerOptions struct {
	exporter sdktrace.SpanExporter
	stdout   io.Writer
}

// WithSpanExporter sends spans synchronously to exp, whatever
// cfg.Exporter says. Tests pass a tracetest.NewInMemoryExporter() (note:
// its Shutdown discards the recorded spans, so read them first).
func WithSpanExporter(exp sdktrace.SpanExporter) TracerOption {
	return func(o *tracerOptions) { o.exporter = exp }
}

// WithStdoutWriter makes the stdout exporter write to w instead of
// os.Stdout.
func WithStdoutWriter(w io.Writer) TracerOption {
	return func(o *tracerOptions) { o.stdout = w }
}

// Propagator is the W3C Trace Context + Baggage propagator drmpipe uses in
// and out (traceparent/tracestate, W3C Trace Context Level 1 §3).
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewTracerProvider builds the tracer provider described by cfg and
// installs the W3C propagator as the OpenTelemetry global (otelhttp reads
// it). The global tracer provider is left alone: pass the returned one to
// otelhttp.WithTracerProvider and to the components that start spans.
//
// With ExporterNone and no WithSpanExporter it returns a no-op provider
// that still carries incoming trace context. Exported spans pass through a
// redactor that masks attribute values looking like secrets. shutdown
// flushes and stops the exporter; it is never nil.
func NewTracerProvider(ctx context.Context, cfg TracingConfig, opts ...TracerOption) (trace.TracerProvider, func(context.Context) error, error) {
	var o tracerOptions
	for _, opt := range opts {
		opt(&o)
	}
	otel.SetTextMapPropagator(Propagator())
	noShutdown := func(context.Context) error { return nil }
	if err := cfg.Validate(); err != nil {
		return nil, noShutdown, err
	}
	exporter, _ := ParseExporter(string(cfg.Exporter))

	var spanOpt sdktrace.TracerProviderOption
	switch {
	case o.exporter != nil:
		spanOpt = sdktrace.WithSyncer(redactingExporter{o.exporter})
	case exporter == ExporterNone:
		return noop.NewTracerProvider(), noShutdown, nil
	case exporter == ExporterStdout:
		w := o.stdout
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, noShutdown, fmt.Errorf("%w: stdout exporter: %w", ErrConfig, err)
		}
		spanOpt = sdktrace.WithBatcher(redactingExporter{exp})
	case exporter == ExporterOTLPHTTP:
		hopts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.Endpoint)}
		if len(cfg.Headers) > 0 {
			hopts = append(hopts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		exp, err := otlptracehttp.New(ctx, hopts...)
		if err != nil {
			// The error may quote the endpoint, never the headers.
			return nil, noShutdown, fmt.Errorf("%w: otlphttp exporter: %w", ErrConfig, err)
		}
		spanOpt = sdktrace.WithBatcher(redactingExporter{exp})
	}

	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	ratio := cfg.SampleRatio
	tp := sdktrace.NewTracerProvider(
		spanOpt,
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return tp, tp.Shutdown, nil
}

// redactingExporter masks secret-looking attribute values (span and event
// attributes, status description, event names) before export.
type redactingExporter struct {
	next sdktrace.SpanExporter
}

func (r redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		stub := tracetest.SpanStubFromReadOnlySpan(s)
		stub.Attributes = RedactAttributes(stub.Attributes)
		stub.Status.Description = RedactString(stub.Status.Description)
		for j := range stub.Events {
			stub.Events[j].Name = RedactString(stub.Events[j].Name)
			stub.Events[j].Attributes = RedactAttributes(stub.Events[j].Attributes)
		}
		out[i] = stub.Snapshot()
	}
	return r.next.ExportSpans(ctx, out)
}

func (r redactingExporter) Shutdown(ctx context.Context) error { return r.next.Shutdown(ctx) }
