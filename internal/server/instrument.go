package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// tracedAuthorizer records the token check as an auth.checkToken span and
// counts denials by reason; never the token itself.
type tracedAuthorizer struct {
	next    entitlement.Authorizer
	tracer  trace.Tracer
	metrics *observability.Metrics
}

func (a tracedAuthorizer) Authorize(ctx context.Context, req entitlement.Request) (entitlement.Decision, error) {
	ctx, span := a.tracer.Start(ctx, observability.SpanAuthCheckToken, trace.WithAttributes(observability.AttrDRM.String(req.System.String())))
	defer span.End()
	d, err := a.next.Authorize(ctx, req)
	if err != nil {
		var deny *entitlement.DenyError
		if errors.As(err, &deny) {
			a.metrics.ObserveDenial(deny.Reason.String())
			span.SetAttributes(observability.AttrOutcome.String("denied"), observability.AttrDenyReason.String(deny.Reason.String()))
		} else {
			span.SetAttributes(observability.AttrOutcome.String("error"))
		}
		span.SetStatus(codes.Error, "refused")
		return d, err
	}
	span.SetAttributes(observability.AttrOutcome.String("ok"))
	return d, nil
}

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
