package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
)

// incoming is the W3C traceparent a player (or CDN) sends: drmpipe must
// continue this trace (W3C Trace Context §3.2).
const (
	incomingTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent  = "00f067aa0ba902b7"
)

func spansNamed(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// onlySpan returns the one span named name among spans (one request's) and
// fails the test unless there is exactly one.
func onlySpan(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	found := spansNamed(spans, name)
	if len(found) != 1 {
		t.Fatalf("%d %s spans, want 1 (spans: %v)", len(found), name, names(spans))
	}
	return found[0]
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// descendants returns the spans under root (children, grandchildren, ...).
func descendants(spans tracetest.SpanStubs, root tracetest.SpanStub) tracetest.SpanStubs {
	in := map[trace.SpanID]bool{root.SpanContext.SpanID(): true}
	var out tracetest.SpanStubs
	for changed := true; changed; {
		changed = false
		for _, s := range spans {
			if !in[s.SpanContext.SpanID()] && in[s.Parent.SpanID()] && s.SpanContext.TraceID() == root.SpanContext.TraceID() {
				in[s.SpanContext.SpanID()] = true
				out = append(out, s)
				changed = true
			}
		}
	}
	return out
}

// TestTracingAndMetrics is issue 6's proof on a running server: one ClearKey
// license request yields the license.request server span continuing the
// caller's trace, with auth.checkToken, keys.get and kms.unwrap under it and
// the drm/outcome/cache.hit attributes; a vendor license request yields a
// drm.vendorCall client span whose traceparent reaches the vendor; no span
// holds a token or key; /metrics exposes the license, denial, revocation,
// breaker, Go runtime and process families.
func TestTracingAndMetrics(t *testing.T) {
	t.Parallel()
	wv, _, ups := vendorSetup(t)
	d := newDeployment(t, setup{Upstreams: ups})
	d.secrets.addString("vendor credential", widevineVendorKey)
	r := d.start(t)
	k := r.key(t, "traced", keys.HD)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)

	// One ClearKey license request inside the caller's trace.
	r.spans.Reset()
	tok := r.token(t, entitlement.Claims{Subject: "tracy", ContentID: "traced"})
	resp := do(t, http.MethodPost, r.url+"/license/clearkey", clearKeyRequest(k.KID),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json",
		"traceparent", "00-"+incomingTraceID+"-"+incomingParent+"-01")
	checkLicense(t, resp, k)
	spans := r.spans.GetSpans()

	t.Run("clearkey_chain", func(t *testing.T) {
		root := onlySpan(t, spans, "license.request")
		if root.SpanKind != trace.SpanKindServer {
			t.Errorf("license.request kind %v, want server", root.SpanKind)
		}
		if got := root.SpanContext.TraceID().String(); got != incomingTraceID {
			t.Errorf("license.request trace ID %s, want the caller's %s (traceparent not continued)", got, incomingTraceID)
		}
		if got := root.Parent.SpanID().String(); got != incomingParent {
			t.Errorf("license.request parent %s, want the caller's span %s", got, incomingParent)
		}
		for key, want := range map[string]string{"drm": "clearkey", "outcome": "ok", "cache.hit": "false"} {
			v, ok := attr(root, key)
			if !ok {
				t.Errorf("license.request has no %s attribute", key)
			} else if v.String() != want {
				t.Errorf("license.request %s = %q, want %q", key, v.String(), want)
			}
		}
		under := descendants(spans, root)
		for _, name := range []string{"auth.checkToken", "keys.get", "kms.unwrap"} {
			if len(spansNamed(under, name)) == 0 {
				t.Errorf("span %s missing under license.request (got %v)", name, names(under))
			}
		}
		// The token is checked once per license request.
		if n := len(spansNamed(under, "auth.checkToken")); n > 1 {
			t.Errorf("%d auth.checkToken spans under one license.request, want 1", n)
		}
		for _, c := range spansNamed(under, "auth.checkToken") {
			if c.Parent.SpanID() != root.SpanContext.SpanID() {
				t.Errorf("auth.checkToken is not a direct child of license.request")
			}
			if v, _ := attr(c, "outcome"); v.String() != "ok" {
				t.Errorf("auth.checkToken outcome %q, want ok", v.String())
			}
		}
		for _, c := range spansNamed(under, "kms.unwrap") {
			if v, _ := attr(c, "kms.backend"); v.String() != "local" {
				t.Errorf("kms.unwrap kms.backend %q, want local", v.String())
			}
		}
	})

	// A vendor license request: drm.vendorCall with the traceparent
	// propagated to the vendor.
	r.spans.Reset()
	ch := challenge(t)
	vresp := r.vendorLicense(t, "widevine", r.token(t, entitlement.Claims{Subject: "tracy", ContentID: "traced"}), ch, "application/octet-stream")
	if vresp.status != http.StatusOK {
		t.Fatalf("widevine license: %d %s", vresp.status, vresp.body)
	}
	vspans := r.spans.GetSpans()

	t.Run("vendor_chain", func(t *testing.T) {
		root := onlySpan(t, vspans, "license.request")
		if v, _ := attr(root, "drm"); v.String() != "widevine" {
			t.Errorf("license.request drm %q, want widevine", v.String())
		}
		if v, ok := attr(root, "vendor"); !ok || v.String() != "passthrough" {
			t.Errorf("license.request vendor %q, want the configured adapter passthrough", v.String())
		}
		under := descendants(vspans, root)
		call := onlySpan(t, under, "drm.vendorCall")
		if call.SpanKind != trace.SpanKindClient {
			t.Errorf("drm.vendorCall kind %v, want client", call.SpanKind)
		}
		tp := wv.Last().Header.Get("Traceparent")
		m := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`).FindStringSubmatch(tp)
		if m == nil {
			t.Fatalf("the vendor saw traceparent %q, want a W3C traceparent", tp)
		}
		if m[1] != root.SpanContext.TraceID().String() {
			t.Errorf("vendor traceparent trace ID %s, license.request's %s", m[1], root.SpanContext.TraceID())
		}
		// The vendor's parent is drmpipe's outgoing span (drm.vendorCall or
		// the HTTP client span under it), never the player's.
		parentOK := false
		for _, s := range append(tracetest.SpanStubs{call}, descendants(vspans, call)...) {
			if s.SpanContext.SpanID().String() == m[2] {
				parentOK = true
			}
		}
		if !parentOK {
			t.Errorf("the vendor's traceparent parent %s is not drm.vendorCall or a span under it", m[2])
		}
	})

	t.Run("no_secrets_in_spans", func(t *testing.T) {
		needles := append(kmstest.Encodings(k.Key), []byte(tok), []byte(widevineVendorKey))
		all := append(append(tracetest.SpanStubs{}, spans...), vspans...)
		for _, s := range all {
			var blob bytes.Buffer
			fmt.Fprint(&blob, s.Name, s.Status.Description)
			for _, kv := range s.Attributes {
				fmt.Fprint(&blob, " ", kv.Key, "=", kv.Value.String())
			}
			for _, e := range s.Events {
				fmt.Fprint(&blob, " ", e.Name)
				for _, kv := range e.Attributes {
					fmt.Fprint(&blob, " ", kv.Key, "=", kv.Value.String())
				}
			}
			for i, n := range needles {
				if bytes.Contains(blob.Bytes(), n) {
					t.Errorf("span %s holds secret #%d (token, key or vendor credential)", s.Name, i)
				}
			}
		}
	})

	// Flows for the metrics: a denial (unentitled KID), a revocation, a
	// cache hit on the vendor path.
	other := r.key(t, "traced", keys.Audio)
	deny := r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "tracy", ContentID: "traced", KIDs: []drm.KeyID{k.KID}}), other.KID)
	if deny.status != http.StatusForbidden {
		t.Fatalf("unentitled KID: %d", deny.status)
	}
	r.revoke(t, adminKey, "user", "mallory")
	if resp := r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "mallory", ContentID: "traced"}), k.KID); resp.status != http.StatusForbidden && resp.status != http.StatusUnauthorized {
		t.Fatalf("revoked user: %d", resp.status)
	}
	vtok := r.token(t, entitlement.Claims{Subject: "victor", ContentID: "traced"})
	for i := 0; i < 2; i++ {
		if resp := r.vendorLicense(t, "widevine", vtok, ch, "application/octet-stream"); resp.status != http.StatusOK {
			t.Fatalf("widevine license: %d", resp.status)
		}
	}

	t.Run("metrics", func(t *testing.T) {
		m := do(t, http.MethodGet, r.url+"/metrics", nil)
		if m.status != http.StatusOK {
			t.Fatalf("/metrics: %d", m.status)
		}
		body := string(m.body)
		for _, want := range []string{
			`drmpipe_license_requests_total{drm="clearkey",outcome="ok",vendor="drmpipe"}`,
			`drmpipe_license_requests_total{drm="clearkey",outcome="denied",vendor="drmpipe"}`,
			`drmpipe_license_requests_total{drm="widevine",outcome="ok",vendor="passthrough"}`,
			`drmpipe_license_request_duration_seconds_bucket{drm="clearkey",outcome="ok",vendor="drmpipe",le="0.25"}`,
			`drmpipe_license_cache_hits_total{drm="widevine"}`,
			`drmpipe_license_upstream_duration_seconds_count{drm="widevine",outcome="ok",vendor="passthrough"}`,
			`drmpipe_entitlement_denials_total{reason="not_entitled"}`,
			`drmpipe_entitlement_denials_total{reason="revoked"}`,
			`drmpipe_revocations_total{kind="user"}`,
			`drmpipe_upstream_breaker_state{upstream="widevine"}`,
			`drmpipe_keys_requests_total{op="get",outcome="ok"}`,
			`drmpipe_kms_call_duration_seconds_count{backend="local",op="unwrap"}`,
			"go_goroutines ",
			"go_memstats_heap_alloc_bytes ",
			"process_cpu_seconds_total ",
			"process_resident_memory_bytes ",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(body, tok) || strings.Contains(body, hex.EncodeToString(k.Key)) {
			t.Error("/metrics holds a token or key")
		}
	})
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
