package observability

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// TracedAuthorizer records the token check as an auth.checkToken span and
// counts denials by reason; never the token itself.
func TracedAuthorizer(next entitlement.Authorizer, tp trace.TracerProvider, m *Metrics) entitlement.Authorizer {
	return tracedAuthorizer{next: next, tracer: tp.Tracer("drmpipe/entitlement"), metrics: m}
}

type tracedAuthorizer struct {
	next    entitlement.Authorizer
	tracer  trace.Tracer
	metrics *Metrics
}

func (a tracedAuthorizer) Authorize(ctx context.Context, req entitlement.Request) (entitlement.Decision, error) {
	ctx, span := a.tracer.Start(ctx, SpanAuthCheckToken, trace.WithAttributes(AttrDRM.String(req.System.String())))
	defer span.End()
	d, err := a.next.Authorize(ctx, req)
	if err != nil {
		var deny *entitlement.DenyError
		if errors.As(err, &deny) {
			a.metrics.ObserveDenial(deny.Reason.String())
			span.SetAttributes(AttrOutcome.String("denied"), AttrDenyReason.String(deny.Reason.String()))
		} else {
			span.SetAttributes(AttrOutcome.String("error"))
		}
		span.SetStatus(codes.Error, "refused")
		return d, err
	}
	span.SetAttributes(AttrOutcome.String("ok"))
	return d, nil
}

// BreakerStater tells the circuit breaker state of a vendor endpoint's
// upstream and of its secondary ("" when none); upstream.Client implements
// it.
type BreakerStater interface {
	BreakerState() (primary, secondary string)
}

// BreakerGauge exports the circuit breaker state of a vendor endpoint's
// upstream (drmpipe_upstream_breaker_state) at start and after every
// request, which is when failsafe changes it. The secondary upstream, if
// any, is labelled "<drm>-secondary".
func BreakerGauge(h http.Handler, m *Metrics, drmName string, c BreakerStater) http.Handler {
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
