package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTracerProviderInMemory(t *testing.T) {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tp, shutdown, err := NewTracerProvider(ctx, TracingConfig{SampleRatio: 1, ServiceName: "drmpipe-test"}, WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	jwt := fakeJWT(t)
	key := testtools.RandomHex(t, 16)

	tr := tp.Tracer("test")
	ctx, root := tr.Start(ctx, SpanLicenseRequest, trace.WithAttributes(AttrDRM.String("widevine"), AttrVendor.String("axinom")))
	_, auth := tr.Start(ctx, SpanAuthCheckToken)
	// A careless caller puts the token and a key on the span: both must be
	// masked on export.
	auth.SetAttributes(attribute.String("token", jwt), attribute.String("note", "key "+key))
	auth.AddEvent("checked "+jwt, trace.WithAttributes(attribute.String("detail", "Bearer "+jwt)))
	auth.End()
	_, call := tr.Start(ctx, SpanDRMVendorCall)
	call.SetAttributes(AttrOutcome.String("ok"))
	call.End()
	root.SetAttributes(AttrOutcome.String("ok"), AttrCacheHit.Bool(false))
	root.End()

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("got %d spans", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	r, a, c := byName[SpanLicenseRequest], byName[SpanAuthCheckToken], byName[SpanDRMVendorCall]
	if a.Parent.SpanID() != r.SpanContext.SpanID() || c.Parent.SpanID() != r.SpanContext.SpanID() {
		t.Errorf("children not parented to %s", SpanLicenseRequest)
	}
	if a.SpanContext.TraceID() != r.SpanContext.TraceID() {
		t.Error("trace IDs differ")
	}
	want := map[attribute.Key]string{AttrDRM: "widevine", AttrVendor: "axinom", AttrOutcome: "ok", AttrCacheHit: "false"}
	got := map[attribute.Key]string{}
	for _, kv := range r.Attributes {
		got[kv.Key] = kv.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("root attribute %s = %q, want %q", k, got[k], v)
		}
	}
	if sn, _ := r.Resource.Set().Value("service.name"); sn.AsString() != "drmpipe-test" {
		t.Errorf("service.name = %q", sn.AsString())
	}
	dump, err := json.Marshal(spans)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{jwt, key, jwt[:20]} {
		if bytes.Contains(dump, []byte(secret)) {
			t.Errorf("exported spans contain a secret %q...", secret[:8])
		}
	}
	if !bytes.Contains(dump, []byte(Mask)) {
		t.Error("expected masked values in the export")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTracerProviderExporters(t *testing.T) {
	ctx := context.Background()
	tp, shutdown, err := NewTracerProvider(ctx, TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, s := tp.Tracer("x").Start(ctx, "x"); s.IsRecording() {
		t.Error("exporter none records spans")
	}
	_ = shutdown(ctx)

	var buf bytes.Buffer
	tp, shutdown, err = NewTracerProvider(ctx, TracingConfig{Exporter: ExporterStdout, SampleRatio: 1}, WithStdoutWriter(&buf))
	if err != nil {
		t.Fatal(err)
	}
	_, s := tp.Tracer("x").Start(ctx, SpanKeysGet, trace.WithAttributes(attribute.String("password", "pw-stdout")))
	s.End()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), SpanKeysGet) || strings.Contains(buf.String(), "pw-stdout") {
		t.Errorf("stdout export: %s", buf.String())
	}

	// otlphttp needs only a valid URL to build; nothing is sent until spans end.
	tp, shutdown, err = NewTracerProvider(ctx, TracingConfig{Exporter: ExporterOTLPHTTP, Endpoint: "http://127.0.0.1:1/v1/traces", SampleRatio: 0.5})
	if err != nil || tp == nil {
		t.Fatalf("otlphttp: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = shutdown(sctx)

	for _, bad := range []TracingConfig{
		{Exporter: "zipkin"},
		{Exporter: ExporterOTLPHTTP},
		{Exporter: ExporterOTLPHTTP, Endpoint: "collector:4318"},
		{SampleRatio: 1.5},
		{SampleRatio: -0.1},
	} {
		if _, _, err := NewTracerProvider(ctx, bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err = %v, want ErrConfig", bad, err)
		}
	}
}

func TestPropagatorW3C(t *testing.T) {
	ctx := context.Background()
	if _, _, err := NewTracerProvider(ctx, TracingConfig{}); err != nil {
		t.Fatal(err)
	}
	// W3C Trace Context §3.2 example header.
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in := http.Header{}
	in.Set("traceparent", tp)
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(in))
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() {
		t.Fatalf("extracted %v", sc)
	}
	out := http.Header{}
	Propagator().Inject(ctx, propagation.HeaderCarrier(out))
	if out.Get("traceparent") != tp {
		t.Errorf("injected %q", out.Get("traceparent"))
	}
}

func TestSafeString(t *testing.T) {
	if kv, err := SafeString(AttrVendor, "drmtoday"); err != nil || kv.Value.AsString() != "drmtoday" {
		t.Errorf("plain value: %v %v", kv, err)
	}
	for _, c := range []struct {
		k attribute.Key
		v string
	}{
		{AttrVendor, fakeJWT(t)},
		{AttrOutcome, "Bearer xyz"},
		{"note", testtools.RandomHex(t, 16)},
		{"token", "anything"},
	} {
		if _, err := SafeString(c.k, c.v); !errors.Is(err, ErrSecretAttribute) {
			t.Errorf("SafeString(%s, ...) err = %v", c.k, err)
		}
	}
	got := SafeAttributes(attribute.String("drm", "clearkey"), attribute.StringSlice("hdrs", []string{"ok", "Bearer abc"}), attribute.Int("pin", 1234))
	if got[0].Value.AsString() != "clearkey" || got[1].Value.AsStringSlice()[1] != Mask || got[2].Value.AsString() != Mask {
		t.Errorf("SafeAttributes = %v", got)
	}
}
