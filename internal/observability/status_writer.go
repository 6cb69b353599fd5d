package observability

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// StatusWriter records the status code and body size a handler wrote.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// WriteHeader implements http.ResponseWriter.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// MeteredLicense records license latency and outcome per DRM and vendor
// (the upstream's adapter type, "drmpipe" for ClearKey) in m and on the
// request's span; a response whose cacheHeader is "hit" counts as served
// from the license cache.
func MeteredLicense(h http.Handler, m *Metrics, drmName, vendor, cacheHeader string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &StatusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		outcome := "ok"
		switch {
		case sw.Status >= 500:
			outcome = "error"
		case sw.Status == http.StatusTooManyRequests:
			outcome = "rate_limited"
		case sw.Status >= 400:
			outcome = "denied"
		}
		hit := sw.Header().Get(cacheHeader) == "hit"
		m.ObserveLicense(drmName, vendor, outcome, time.Since(start), hit)
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(
				AttrDRM.String(drmName), AttrVendor.String(vendor),
				AttrOutcome.String(outcome), AttrCacheHit.Bool(hit))
		}
	})
}
