package widevine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

// allowAll stands in for entitlement's Authorizer (written in parallel).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, req entitlement.Request) (entitlement.Decision, error) {
	if req.System != drm.Widevine || len(req.KIDs) != 0 {
		return entitlement.Decision{}, &entitlement.DenyError{Reason: entitlement.ReasonNotEntitled, Message: "unexpected request"}
	}
	return entitlement.Decision{Subject: "u", ContentID: "movie", JTI: "j", TokenExpiry: time.Now().Add(time.Minute),
		Policy: entitlement.Policy{LicenseDuration: time.Hour, SecurityLevel: 1}}, nil
}

const (
	key = "1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9"
	iv  = "d58ce954203b7c9a9a9d467f59839249"
)

func TestWidevineDirectThroughHandler(t *testing.T) {
	d := vendortest.New(vendortest.WidevineDirect, vendortest.Options{WidevineProvider: "acme", WidevineSigningKey: key, WidevineSigningIV: iv})
	defer d.Close()
	cfg := Config{Upstream: upstream.Config{
		Type: upstream.WidevineDirect, URL: d.URL(), Timeout: time.Second,
		Credentials: upstream.Credentials{Provider: "acme", Key: key, IV: iv},
		Breaker:     upstream.BreakerConfig{FailureRatio: 0.5, MinRequests: 2, OpenFor: 30 * time.Second},
	}}
	h, err := NewHandler(cfg, Deps{Deps: license.Deps{Authorizer: allowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/license/widevine", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer t")
		r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := send("\x08\x04")
	// The proxy API wraps the license in JSON; the CDM gets the bytes.
	if w.Code != 200 || w.Body.String() != string(vendortest.License([]byte("\x08\x04"))) {
		t.Fatalf("%d %q (double: %v)", w.Code, w.Body, d.Rejection())
	}
	if d.Last().Header.Get("Traceparent") == "" {
		t.Error("traceparent dropped")
	}
	// Breaker: two 500s open it; then 503 + retryAfter without a call.
	d.Fail(http.StatusInternalServerError)
	send("a")
	send("b")
	calls := d.Calls()
	w = send("c")
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != 503 || b.Code != httperr.CodeUpstreamUnavailable || b.RetryAfter < 29 || b.RetryAfter > 30 || d.Calls() != calls {
		t.Errorf("open breaker: %d %+v calls %d->%d", w.Code, b, calls, d.Calls())
	}
	if p, _ := h.Upstream().BreakerState(); p != "open" {
		t.Errorf("state %s", p)
	}
}
