package server

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// metered records license latency and outcome per DRM and vendor (the
// upstream's adapter type, "drmpipe" for ClearKey).
func metered(h http.Handler, m *observability.Metrics, drmName, vendor string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		outcome := "ok"
		switch {
		case sw.status >= 500:
			outcome = "error"
		case sw.status == http.StatusTooManyRequests:
			outcome = "rate_limited"
		case sw.status >= 400:
			outcome = "denied"
		}
		hit := sw.Header().Get(license.CacheHeader) == "hit"
		m.ObserveLicense(drmName, vendor, outcome, time.Since(start), hit)
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(
				observability.AttrDRM.String(drmName), observability.AttrVendor.String(vendor),
				observability.AttrOutcome.String(outcome), observability.AttrCacheHit.Bool(hit))
		}
	})
}
