package observability

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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
