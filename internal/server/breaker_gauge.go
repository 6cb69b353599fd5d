package server

import (
	"net/http"

	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// breakerGauge exports the circuit breaker state of a vendor endpoint's
// upstream (drmpipe_upstream_breaker_state, issue 6) at start and after
// every request, which is when failsafe changes it. The secondary upstream,
// if any, is labelled "<drm>-secondary".
func breakerGauge(h http.Handler, m *observability.Metrics, drmName string, c *upstream.Client) http.Handler {
	update := func() {
		primary, secondary := c.BreakerState()
		m.SetBreakerState(drmName, primary)
		if secondary != "" {
			m.SetBreakerState(drmName+"-secondary", secondary)
		}
	}
	update()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer update()
		h.ServeHTTP(w, r)
	})
}
