package observability

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestHTTPPropagation: an incoming traceparent is continued by the server
// span, and the call the handler makes to a vendor upstream carries the
// same trace onward.
func TestHTTPPropagation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, shutdown, err := NewTracerProvider(context.Background(), TracingConfig{SampleRatio: 1}, WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = shutdown(context.Background()) }()

	var upstreamTP string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamTP = r.Header.Get("traceparent")
	}))
	defer upstream.Close()
	client := &http.Client{Transport: HTTPTransport(nil, tp)}

	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "upstream", http.StatusBadGateway)
			return
		}
		resp.Body.Close()
	}), SpanLicenseRequest, tp)
	srv := httptest.NewServer(h)
	defer srv.Close()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if !strings.HasPrefix(upstreamTP, "00-"+traceID+"-") {
		t.Errorf("upstream traceparent %q does not continue trace %s", upstreamTP, traceID)
	}
	var server bool
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() != traceID {
			t.Errorf("span %s in trace %s", s.Name, s.SpanContext.TraceID())
		}
		server = server || s.Name == SpanLicenseRequest
	}
	if !server {
		t.Errorf("no %s span among %d", SpanLicenseRequest, len(exp.GetSpans()))
	}
}

// TestHTTPPropagationTracingOff: with tracing off (no exporter) no span is
// recorded, but the caller's trace context still reaches the handler (and
// so the logs) and is carried on to vendor calls.
func TestHTTPPropagationTracingOff(t *testing.T) {
	tp, _, err := NewTracerProvider(context.Background(), TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var upstreamTP string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamTP = r.Header.Get("traceparent")
	}))
	defer upstream.Close()
	client := &http.Client{Transport: HTTPTransport(nil, tp)}
	var handlerTrace string
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerTrace = trace.SpanContextFromContext(r.Context()).TraceID().String()
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream.URL, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}), SpanLicenseRequest, tp)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/license/clearkey", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	h.ServeHTTP(rec, req)
	if handlerTrace != traceID {
		t.Errorf("handler context trace %q, want %s", handlerTrace, traceID)
	}
	if !strings.HasPrefix(upstreamTP, "00-"+traceID+"-") {
		t.Errorf("upstream traceparent %q does not continue trace %s", upstreamTP, traceID)
	}

	// Without a traceparent the context stays without a trace.
	handlerTrace = ""
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/license/clearkey", nil))
	if handlerTrace != (trace.TraceID{}).String() {
		t.Errorf("trace %q invented without a traceparent", handlerTrace)
	}
}
