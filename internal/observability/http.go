package observability

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// HTTPHandler wraps h so that each request continues the caller's trace
// (W3C traceparent in, Propagator) in a server span named operation, for
// example SpanLicenseRequest or SpanCDNFetchSegment. With tracing off (a
// noop provider) no span is made: the handler only continues the caller's
// trace context, so logs and vendor calls still carry it, without the
// per-request cost of otelhttp's attributes.
func HTTPHandler(h http.Handler, operation string, tp trace.TracerProvider) http.Handler {
	if _, off := tp.(noop.TracerProvider); off {
		return continueTrace(h)
	}
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

// continueTrace puts the W3C trace context of the request's headers, if
// any, into its context.
func continueTrace(h http.Handler) http.Handler {
	prop := Propagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		h.ServeHTTP(w, r)
	})
}
