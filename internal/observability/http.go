package observability

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// HTTPHandler wraps h so that each request continues the caller's trace
// (W3C traceparent in, Propagator) in a server span named operation, for
// example SpanLicenseRequest or SpanCDNFetchSegment.
func HTTPHandler(h http.Handler, operation string, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithSpanNameFormatter(func(op string, _ *http.Request) string { return op }),
	)
}

// HTTPTransport wraps rt (nil = http.DefaultTransport) so that outgoing
// requests, such as calls to DRM vendor upstreams, get a client span and
// carry the W3C traceparent of the request's context.
func HTTPTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
	)
}
