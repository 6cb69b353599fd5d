package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// tracedKMS records kms.wrap / kms.unwrap spans and KMS latency metrics
// around a KMS backend. Only the backend name and the KID are recorded.
type tracedKMS struct {
	kms.Wrapper
	tracer  trace.Tracer
	metrics *observability.Metrics
}

func (t tracedKMS) Wrap(ctx context.Context, kid drm.KeyID, contentID string, key []byte) ([]byte, string, error) {
	ctx, span := t.tracer.Start(ctx, "kms.wrap", trace.WithAttributes(observability.AttrKMSBackend.String(t.Name())))
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
	ctx, span := t.tracer.Start(ctx, observability.SpanKMSUnwrap, trace.WithAttributes(observability.AttrKMSBackend.String(t.Name())))
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

// keyLookup adapts the key store to the ClearKey handler, as a keys.get span.
// Lookups are remembered in process memory for at most keyCacheTTL, so a
// burst of license requests for the same content costs one store read per
// key per second; a revoked key is seen within that second (the revocation
// list, checked on every request, sees it at once).
type keyLookup struct {
	ks      *keystore.KeyStore
	tracer  trace.Tracer
	metrics *observability.Metrics
	cache   *ttlCache[drm.KeyID, keys.StoredKey]
}

const (
	keyCacheTTL     = time.Second
	keyCacheEntries = 4096
)

// ttlCache remembers values for keyCacheTTL, at most keyCacheEntries.
type ttlCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[K comparable, V any]() *ttlCache[K, V] {
	return &ttlCache[K, V]{m: map[K]ttlEntry[V]{}}
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= keyCacheEntries {
		// Entries live one second: start over rather than sweep per put.
		clear(c.m)
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(keyCacheTTL)}
}

func (l keyLookup) Lookup(ctx context.Context, kid drm.KeyID) (keys.ContentKey, string, keys.TrackType, bool, error) {
	now := time.Now()
	if k, ok := l.cache.get(kid, now); ok {
		return k.Key, k.ContentID, k.TrackType, k.State == keys.StateRevoked, nil
	}
	ctx, span := l.tracer.Start(ctx, observability.SpanKeysGet)
	defer span.End()
	start := time.Now()
	k, err := l.ks.Get(ctx, kid)
	outcome := "ok"
	if err != nil {
		outcome = "error"
		span.SetStatus(codes.Error, "lookup failed")
	}
	l.metrics.ObserveKeys("get", outcome, time.Since(start))
	if err != nil {
		return keys.ContentKey{}, "", 0, false, err
	}
	span.SetAttributes(observability.AttrTrackType.String(k.TrackType.String()))
	l.cache.put(kid, k, now)
	return k.Key, k.ContentID, k.TrackType, k.State == keys.StateRevoked, nil
}

// contentKeyList lists a content's keys (without key material) for
// entitlement's choice of the keys a ClearKey license carries, as a
// keys.list span, remembered for keyCacheTTL like keyLookup.
type contentKeyList struct {
	ks      *keystore.KeyStore
	tracer  trace.Tracer
	metrics *observability.Metrics
	cache   *ttlCache[string, []entitlement.ContentKeyRef]
}

func (l contentKeyList) ContentKeys(ctx context.Context, contentID string) ([]entitlement.ContentKeyRef, error) {
	now := time.Now()
	if refs, ok := l.cache.get(contentID, now); ok {
		return refs, nil
	}
	ctx, span := l.tracer.Start(ctx, observability.SpanKeysList)
	defer span.End()
	start := time.Now()
	list, err := l.ks.List(ctx, contentID)
	outcome := "ok"
	if err != nil {
		outcome = "error"
		span.SetStatus(codes.Error, "list failed")
	}
	l.metrics.ObserveKeys("list", outcome, time.Since(start))
	if err != nil {
		return nil, err
	}
	refs := make([]entitlement.ContentKeyRef, 0, len(list))
	for _, k := range list {
		refs = append(refs, entitlement.ContentKeyRef{KID: k.KID, ContentID: k.ContentID, TrackType: k.TrackType, Period: k.Period, Active: k.State == keys.StateActive})
	}
	l.cache.put(contentID, refs, now)
	return refs, nil
}

// vendorTransport records each upstream call as a drm.vendorCall span (the
// HTTP client span and the W3C traceparent come from otelhttp under it) and
// as upstream latency per DRM and vendor.
type vendorTransport struct {
	next    http.RoundTripper
	drm     string
	vendor  string
	tracer  trace.Tracer
	metrics *observability.Metrics
}

func (v vendorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := v.tracer.Start(r.Context(), observability.SpanDRMVendorCall, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(observability.AttrDRM.String(v.drm), observability.AttrVendor.String(v.vendor), observability.AttrUpstream.String(r.URL.Host)))
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
	span.SetAttributes(observability.AttrOutcome.String(outcome))
	if outcome != "ok" {
		span.SetStatus(codes.Error, outcome)
	}
	v.metrics.ObserveUpstream(v.drm, v.vendor, outcome, time.Since(start))
	return resp, err
}
