package observability

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// KMSTracing decorates a KMS backend (keystore.Config.WrapKMS) so that it
// records kms.wrap / kms.unwrap spans and KMS latency metrics. Only the
// backend name and the KID are recorded.
func KMSTracing(tp trace.TracerProvider, m *Metrics) func(kms.Wrapper) kms.Wrapper {
	return func(w kms.Wrapper) kms.Wrapper {
		return tracedKMS{Wrapper: w, tracer: tp.Tracer("drmpipe/kms"), metrics: m}
	}
}

type tracedKMS struct {
	kms.Wrapper
	tracer  trace.Tracer
	metrics *Metrics
}

func (t tracedKMS) Wrap(ctx context.Context, kid drm.KeyID, contentID string, key []byte) ([]byte, string, error) {
	ctx, span := t.tracer.Start(ctx, "kms.wrap", trace.WithAttributes(AttrKMSBackend.String(t.Name())))
	defer span.End()
	start := time.Now()
	w, ref, err := t.Wrapper.Wrap(ctx, kid, contentID, key)
	t.metrics.ObserveKMS(t.Name(), "wrap", time.Since(start), err)
	if err != nil {
		span.SetStatus(codes.Error, "wrap failed")
	}
	return w, ref, err
}

func (t tracedKMS) Unwrap(ctx context.Context, kid drm.KeyID, contentID string, wrapped []byte, keyRef string) ([]byte, error) {
	ctx, span := t.tracer.Start(ctx, SpanKMSUnwrap, trace.WithAttributes(AttrKMSBackend.String(t.Name())))
	defer span.End()
	start := time.Now()
	k, err := t.Wrapper.Unwrap(ctx, kid, contentID, wrapped, keyRef)
	t.metrics.ObserveKMS(t.Name(), "unwrap", time.Since(start), err)
	if err != nil {
		span.SetStatus(codes.Error, "unwrap failed")
	}
	return k, err
}

// CurrentKeyRef keeps re-wrap's skip logic working through the wrapper.
func (t tracedKMS) CurrentKeyRef(ctx context.Context) (string, error) {
	if v, ok := t.Wrapper.(kms.Versioned); ok {
		return v.CurrentKeyRef(ctx)
	}
	return "", nil
}

// TracedKeys records key store reads as keys.get / keys.list spans and
// key store latency metrics (keys.Reader).
func TracedKeys(r keys.Reader, tp trace.TracerProvider, m *Metrics) keys.Reader {
	return tracedKeys{next: r, tracer: tp.Tracer("drmpipe/keys"), metrics: m}
}

type tracedKeys struct {
	next    keys.Reader
	tracer  trace.Tracer
	metrics *Metrics
}

func (t tracedKeys) Get(ctx context.Context, kid drm.KeyID) (keys.StoredKey, error) {
	ctx, span := t.tracer.Start(ctx, SpanKeysGet)
	defer span.End()
	start := time.Now()
	k, err := t.next.Get(ctx, kid)
	t.observe(span, "get", start, err)
	if err == nil {
		span.SetAttributes(AttrTrackType.String(k.TrackType.String()))
	}
	return k, err
}

func (t tracedKeys) List(ctx context.Context, contentID string) ([]keys.StoredKey, error) {
	ctx, span := t.tracer.Start(ctx, SpanKeysList)
	defer span.End()
	start := time.Now()
	list, err := t.next.List(ctx, contentID)
	t.observe(span, "list", start, err)
	return list, err
}

func (t tracedKeys) observe(span trace.Span, op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
		span.SetStatus(codes.Error, op+" failed")
	}
	t.metrics.ObserveKeys(op, outcome, time.Since(start))
}

// VendorTransport records each upstream call of a vendor license endpoint
// as a drm.vendorCall span (the HTTP client span and the W3C traceparent
// come from otelhttp under it) and as upstream latency per DRM and vendor.
func VendorTransport(next http.RoundTripper, drmName, vendor string, tp trace.TracerProvider, m *Metrics) http.RoundTripper {
	return vendorTransport{next: next, drm: drmName, vendor: vendor, tracer: tp.Tracer("drmpipe/license"), metrics: m}
}

type vendorTransport struct {
	next    http.RoundTripper
	drm     string
	vendor  string
	tracer  trace.Tracer
	metrics *Metrics
}

func (v vendorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := v.tracer.Start(r.Context(), SpanDRMVendorCall, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrDRM.String(v.drm), AttrVendor.String(v.vendor), AttrUpstream.String(r.URL.Host)))
	defer span.End()
	start := time.Now()
	resp, err := v.next.RoundTrip(r.WithContext(ctx))
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case resp.StatusCode >= 500:
		outcome = "upstream_5xx"
	case resp.StatusCode >= 400:
		outcome = "upstream_4xx"
	}
	span.SetAttributes(AttrOutcome.String(outcome))
	if outcome != "ok" {
		span.SetStatus(codes.Error, outcome)
	}
	v.metrics.ObserveUpstream(v.drm, v.vendor, outcome, time.Since(start))
	return resp, err
}
