package upstream_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

var (
	kid1, _ = drm.ParseKeyID("9eb4050d-e44b-4802-932e-27d75083e266")
	kid2, _ = drm.ParseKeyID("2f05477fc24bb4faefd86517156daffc")
)

const (
	comKeyID = "b3364eb5-51f6-4ae3-8c98-33ced5e31c78"
	wvKey    = "1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9"
	wvIV     = "d58ce954203b7c9a9a9d467f59839249"
)

var comKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func decision() entitlement.Decision {
	return entitlement.Decision{
		Subject: "user-1", DeviceID: "dev-1", ContentID: "movie-1", JTI: "jti-1",
		TokenExpiry: time.Now().Add(time.Minute), KIDs: []drm.KeyID{kid1, kid2},
		Policy: entitlement.Policy{LicenseDuration: time.Hour, Persistent: true, HDCP: entitlement.HDCPV22, SecurityLevel: 3},
	}
}

func call(sys drm.System, challenge string) license.Call {
	return license.Call{System: sys, Kind: license.CallLicense, Challenge: []byte(challenge), Decision: decision(),
		Header: http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}
}

// fast resilience settings so tests stay short.
func fast(c upstream.Config) upstream.Config {
	c.Timeout = 300 * time.Millisecond
	c.Retries = 2
	c.Retry = upstream.RetryConfig{Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	c.Breaker = upstream.BreakerConfig{FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second, OpenFor: 300 * time.Millisecond, SuccessThreshold: 1}
	return c
}

func TestAdaptersAgainstDoubles(t *testing.T) {
	cases := []struct {
		name  string
		style vendortest.Style
		opts  vendortest.Options
		cfg   upstream.Config
		sys   drm.System
		check func(t *testing.T, o vendortest.Observed)
	}{
		{"generic widevine", vendortest.Generic, vendortest.Options{Headers: map[string]string{"X-Api-Key": "k1"}, Query: map[string]string{"tenant": "t1"}},
			upstream.Config{Type: upstream.Generic, Credentials: upstream.Credentials{Headers: map[string]string{"X-Api-Key": "k1"}, Query: map[string]string{"tenant": "t1"}}}, drm.Widevine,
			func(t *testing.T, o vendortest.Observed) {
				if o.ContentType != "application/octet-stream" {
					t.Errorf("content type %q", o.ContentType)
				}
			}},
		{"generic playready", vendortest.Generic, vendortest.Options{}, upstream.Config{Type: upstream.Generic}, drm.PlayReady,
			func(t *testing.T, o vendortest.Observed) {
				if !strings.HasPrefix(o.ContentType, "text/xml") {
					t.Errorf("content type %q", o.ContentType)
				}
			}},
		{"generic fairplay json", vendortest.Generic, vendortest.Options{}, upstream.Config{Type: upstream.Generic, FairPlayBody: upstream.BodyJSON}, drm.FairPlay,
			func(t *testing.T, o vendortest.Observed) {
				if o.ContentType != "application/json" {
					t.Errorf("content type %q", o.ContentType)
				}
			}},
		{"axinom", vendortest.Axinom, vendortest.Options{AxinomComKeyID: comKeyID, AxinomComKey: comKey},
			upstream.Config{Type: upstream.Axinom, Credentials: upstream.Credentials{KeyID: comKeyID, Key: comKey}}, drm.Widevine,
			func(t *testing.T, o vendortest.Observed) {
				msg := o.Claims["message"].(map[string]any)
				inline := msg["content_keys_source"].(map[string]any)["inline"].([]any)
				if len(inline) != 2 || inline[0].(map[string]any)["id"] != kid1.String() {
					t.Errorf("inline keys %v", inline)
				}
				lic := msg["license"].(map[string]any)
				if lic["allow_persistence"] != true {
					t.Errorf("license %v", lic)
				}
				pol := msg["content_key_usage_policies"].([]any)[0].(map[string]any)
				if pol["widevine"].(map[string]any)["device_security_level"] != "HW_SECURE_CRYPTO" || pol["fairplay"].(map[string]any)["hdcp"] != "TYPE1" {
					t.Errorf("usage policy %v", pol)
				}
			}},
		{"drmtoday custom data", vendortest.DRMtoday, vendortest.Options{DRMtodayMerchant: "acme"},
			upstream.Config{Type: upstream.DRMtoday, Credentials: upstream.Credentials{Provider: "acme"}}, drm.Widevine,
			func(t *testing.T, o vendortest.Observed) {
				if o.Claims["userId"] != "user-1" || o.Claims["sessionId"] != "jti-1" {
					t.Errorf("custom data %v", o.Claims)
				}
			}},
		{"drmtoday token fairplay", vendortest.DRMtoday, vendortest.Options{DRMtodayMerchant: "acme", DRMtodayTokenSecret: "s3cret"},
			upstream.Config{Type: upstream.DRMtoday, DRMtoday: upstream.DRMtodayConfig{Mode: upstream.DRMtodayModeToken}, Credentials: upstream.Credentials{Provider: "acme", Token: "s3cret"}}, drm.FairPlay,
			func(t *testing.T, o vendortest.Observed) {
				var crt []map[string]any
				_ = json.Unmarshal([]byte(o.Claims["crt"].(string)), &crt)
				if crt[0]["assetId"] != "movie-1" || crt[0]["storeLicense"] != true {
					t.Errorf("crt %v", crt)
				}
				if o.ContentType != "application/x-www-form-urlencoded" || o.Query.Get("offline") != "true" {
					t.Errorf("fairplay form %q %v", o.ContentType, o.Query)
				}
			}},
		{"ezdrm fairplay", vendortest.EZDRM, vendortest.Options{EZDRMProfile: "123456"},
			upstream.Config{Type: upstream.EZDRM, Credentials: upstream.Credentials{Provider: "123456"}}, drm.FairPlay,
			func(t *testing.T, o vendortest.Observed) {
				if o.ContentType != "application/octet-stream" || o.Query.Get(upstream.EZDRMUserParam) != "user-1" {
					t.Errorf("ezdrm %q %v", o.ContentType, o.Query)
				}
			}},
		{"widevine direct", vendortest.WidevineDirect, vendortest.Options{WidevineProvider: "widevine_test", WidevineSigningKey: wvKey, WidevineSigningIV: wvIV},
			upstream.Config{Type: upstream.WidevineDirect, Credentials: upstream.Credentials{Provider: "widevine_test", Key: wvKey, IV: wvIV}}, drm.Widevine,
			func(t *testing.T, o vendortest.Observed) {
				po := o.Claims["policy_overrides"].(map[string]any)
				if po["can_persist"] != true || po["license_duration_seconds"] != float64(3600) {
					t.Errorf("policy overrides %v", po)
				}
				if o.Claims["content_id"] != base64.StdEncoding.EncodeToString([]byte("movie-1")) {
					t.Errorf("content_id %v", o.Claims["content_id"])
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := vendortest.New(tc.style, tc.opts)
			defer d.Close()
			tc.cfg.URL = d.URL() + "/license"
			c, err := upstream.New(fast(tc.cfg), upstream.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			challenge := "challenge-" + tc.name
			resp, err := c.Do(context.Background(), call(tc.sys, challenge))
			if err != nil {
				t.Fatalf("Do: %v (double: %v)", err, d.Rejection())
			}
			if !bytes.Equal(resp.Body, vendortest.License([]byte(challenge))) {
				t.Errorf("license %q", resp.Body)
			}
			o := d.Last()
			if string(o.Challenge) != challenge {
				t.Errorf("challenge seen %q", o.Challenge)
			}
			if o.Header.Get("Traceparent") == "" {
				t.Error("traceparent not passed through")
			}
			tc.check(t, o)
		})
	}
}

// TestDoublesRejectWrongCredentials proves the doubles check what they
// claim to: a wrong secret is refused, and we turn that into upstream_error
// without leaking the vendor's body.
func TestDoublesRejectWrongCredentials(t *testing.T) {
	cases := []struct {
		style vendortest.Style
		opts  vendortest.Options
		cfg   upstream.Config
	}{
		{vendortest.Axinom, vendortest.Options{AxinomComKeyID: comKeyID, AxinomComKey: comKey},
			upstream.Config{Type: upstream.Axinom, Credentials: upstream.Credentials{KeyID: comKeyID, Key: base64.StdEncoding.EncodeToString([]byte("wrong"))}}},
		{vendortest.DRMtoday, vendortest.Options{DRMtodayMerchant: "acme", DRMtodayTokenSecret: "s3cret"},
			upstream.Config{Type: upstream.DRMtoday, DRMtoday: upstream.DRMtodayConfig{Mode: upstream.DRMtodayModeToken}, Credentials: upstream.Credentials{Provider: "acme", Token: "other"}}},
		{vendortest.DRMtoday, vendortest.Options{DRMtodayMerchant: "acme"},
			upstream.Config{Type: upstream.DRMtoday, Credentials: upstream.Credentials{Provider: "evil"}}},
		{vendortest.EZDRM, vendortest.Options{EZDRMProfile: "1"}, upstream.Config{Type: upstream.EZDRM, Credentials: upstream.Credentials{Provider: "2"}}},
		{vendortest.WidevineDirect, vendortest.Options{WidevineProvider: "p", WidevineSigningKey: wvKey, WidevineSigningIV: wvIV},
			upstream.Config{Type: upstream.WidevineDirect, Credentials: upstream.Credentials{Provider: "p", Key: wvKey, IV: "00000000000000000000000000000000"}}},
	}
	for _, tc := range cases {
		t.Run(tc.cfg.Type.String(), func(t *testing.T) {
			d := vendortest.New(tc.style, tc.opts)
			defer d.Close()
			tc.cfg.URL = d.URL()
			c, err := upstream.New(fast(tc.cfg), upstream.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Do(context.Background(), call(drm.Widevine, "x"))
			var he *httperr.Error
			if !errors.As(err, &he) || he.Code != httperr.CodeUpstreamError || he.Status != http.StatusBadGateway {
				t.Fatalf("err %v", err)
			}
			if d.Rejection() == nil || d.Calls() != 1 {
				t.Errorf("double rejection %v calls %d (4xx must not be retried)", d.Rejection(), d.Calls())
			}
			if strings.Contains(he.Message, "rejected") {
				t.Error("upstream body leaked into the message")
			}
		})
	}
}

func generic(t *testing.T, d *vendortest.Server) *upstream.Client {
	t.Helper()
	c, err := upstream.New(fast(upstream.Config{Type: upstream.Generic, URL: d.URL()}), upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesBoundedAndOnlyWhenSafe(t *testing.T) {
	cases := []struct {
		status    int
		wantCalls int
		wantCode  httperr.Code
	}{
		{http.StatusServiceUnavailable, 3, httperr.CodeUpstreamUnavailable}, // 1 + 2 retries
		{http.StatusBadGateway, 3, httperr.CodeUpstreamUnavailable},
		{http.StatusGatewayTimeout, 3, httperr.CodeUpstreamUnavailable},
		{http.StatusInternalServerError, 1, httperr.CodeUpstreamUnavailable}, // may have been processed
		{http.StatusBadRequest, 1, httperr.CodeUpstreamError},
		{http.StatusForbidden, 1, httperr.CodeUpstreamError},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			d := vendortest.New(vendortest.Generic, vendortest.Options{})
			defer d.Close()
			d.Fail(tc.status)
			_, err := generic(t, d).Do(context.Background(), call(drm.Widevine, "c"))
			var he *httperr.Error
			if !errors.As(err, &he) || he.Code != tc.wantCode {
				t.Fatalf("err %v", err)
			}
			if d.Calls() != tc.wantCalls {
				t.Errorf("calls %d, want %d", d.Calls(), tc.wantCalls)
			}
			if strings.Contains(he.Error(), vendortest.ErrorBody) {
				t.Error("upstream body in the error")
			}
		})
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	url := d.URL()
	d.Close()
	c, err := upstream.New(fast(upstream.Config{Type: upstream.Generic, URL: url}), upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Do(context.Background(), call(drm.Widevine, "c"))
	var he *httperr.Error
	if !errors.As(err, &he) || he.Code != httperr.CodeUpstreamUnavailable {
		t.Fatalf("err %v", err)
	}
	// Two backoffs of >= 5ms*(1-jitter) happened.
	if time.Since(start) < 7*time.Millisecond {
		t.Errorf("no backoff between retries (%v)", time.Since(start))
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	cfg := fast(upstream.Config{Type: upstream.Generic, URL: d.URL()})
	cfg.Retries = 0
	cfg.Breaker.OpenFor = 1500 * time.Millisecond
	c, err := upstream.New(cfg, upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	d.Fail(http.StatusInternalServerError)
	for i := 0; i < 4; i++ {
		_, _ = c.Do(context.Background(), call(drm.Widevine, "c"))
	}
	if p, _ := c.BreakerState(); p != "open" {
		t.Fatalf("breaker %s after 4 failures", p)
	}
	d.Healthy()
	before := d.Calls()
	start := time.Now()
	_, err = c.Do(context.Background(), call(drm.Widevine, "c"))
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.RetryAfter < 1 || he.RetryAfter > 2 {
		t.Fatalf("open breaker answer %v (retryAfter %d)", err, he.RetryAfter)
	}
	if d.Calls() != before || time.Since(start) > 50*time.Millisecond {
		t.Error("open breaker called the upstream or was slow")
	}
	time.Sleep(cfg.Breaker.OpenFor + 50*time.Millisecond)
	if _, err := c.Do(context.Background(), call(drm.Widevine, "c")); err != nil {
		t.Fatalf("after open period: %v", err)
	}
	if p, _ := c.BreakerState(); p != "closed" {
		t.Errorf("breaker %s after a successful probe", p)
	}
}

func TestBreakerIgnores4xx(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	c := generic(t, d)
	d.Fail(http.StatusForbidden)
	for i := 0; i < 8; i++ {
		_, _ = c.Do(context.Background(), call(drm.Widevine, "c"))
	}
	if p, _ := c.BreakerState(); p != "closed" {
		t.Errorf("breaker %s after client errors", p)
	}
}

func TestStallTimesOut(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	d.Stall(5 * time.Second)
	start := time.Now()
	_, err := generic(t, d).Do(context.Background(), call(drm.Widevine, "c"))
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusGatewayTimeout || he.Code != httperr.CodeUpstreamUnavailable {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("timeout took %v (timeouts are not retried)", el)
	}
	if d.Calls() != 1 {
		t.Errorf("calls %d", d.Calls())
	}
}

func TestFailover(t *testing.T) {
	primary := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer primary.Close()
	secondary := vendortest.New(vendortest.EZDRM, vendortest.Options{EZDRMProfile: "9"})
	defer secondary.Close()
	sec := fast(upstream.Config{Type: upstream.EZDRM, URL: secondary.URL(), Credentials: upstream.Credentials{Provider: "9"}})
	cfg := fast(upstream.Config{Type: upstream.Generic, URL: primary.URL(), Secondary: &sec})
	c, err := upstream.New(cfg, upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	primary.Fail(http.StatusServiceUnavailable)
	resp, err := c.Do(context.Background(), call(drm.Widevine, "fo"))
	if err != nil || !bytes.Equal(resp.Body, vendortest.License([]byte("fo"))) {
		t.Fatalf("failover: %v %q", err, resp.Body)
	}
	if primary.Calls() != 3 || secondary.Calls() != 1 {
		t.Errorf("calls primary %d secondary %d", primary.Calls(), secondary.Calls())
	}
	// A 4xx is an answer, not an outage: no failover.
	primary.Fail(http.StatusForbidden)
	if _, err := c.Do(context.Background(), call(drm.Widevine, "fo")); err == nil {
		t.Error("4xx failed over")
	}
	if secondary.Calls() != 1 {
		t.Errorf("secondary called after a 4xx")
	}
}

func TestFlapIsRetried(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	d.Flap(http.StatusServiceUnavailable)
	cfg := fast(upstream.Config{Type: upstream.Generic, URL: d.URL()})
	cfg.Breaker.MinRequests = 100 // a half-failing upstream would (rightly) open the default breaker
	c, err := upstream.New(cfg, upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Do(context.Background(), call(drm.Widevine, "f")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if d.Calls() != 10 {
		t.Errorf("calls %d, want 10 (each request: one 503, one retry)", d.Calls())
	}
}

type kidSource map[string][]upstream.ContentKID

func (k kidSource) ContentKIDs(_ context.Context, id string) ([]upstream.ContentKID, error) {
	return k[id], nil
}

func TestAxinomContentKIDsByTrackType(t *testing.T) {
	d := vendortest.New(vendortest.Axinom, vendortest.Options{AxinomComKeyID: comKeyID, AxinomComKey: comKey})
	defer d.Close()
	src := kidSource{"movie-1": {{KID: kid1, TrackType: keys.SD}, {KID: kid2, TrackType: keys.UHD1}}}
	c, err := upstream.New(fast(upstream.Config{Type: upstream.Axinom, URL: d.URL(), Credentials: upstream.Credentials{KeyID: comKeyID, Key: comKey}}), upstream.Deps{KIDs: src})
	if err != nil {
		t.Fatal(err)
	}
	cl := call(drm.PlayReady, "<soap/>")
	cl.Decision.KIDs = nil
	cl.Decision.TrackTypes = []keys.TrackType{keys.SD}
	if _, err := c.Do(context.Background(), cl); err != nil {
		t.Fatalf("%v (%v)", err, d.Rejection())
	}
	inline := d.Last().Claims["message"].(map[string]any)["content_keys_source"].(map[string]any)["inline"].([]any)
	if len(inline) != 1 || inline[0].(map[string]any)["id"] != kid1.String() {
		t.Errorf("inline %v, want only the SD key", inline)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []upstream.Config{
		{Type: upstream.Generic},
		{Type: upstream.Generic, URL: "ftp://x"},
		{Type: "keyos", URL: "http://x"},
		{Type: upstream.Axinom, URL: "http://x", Credentials: upstream.Credentials{KeyID: "nope", Key: comKey}},
		{Type: upstream.DRMtoday, URL: "http://x"},
		{Type: upstream.EZDRM, URL: "http://x"},
		{Type: upstream.WidevineDirect, URL: "http://x", Credentials: upstream.Credentials{Provider: "p", Key: "00", IV: wvIV}},
		{Type: upstream.Generic, URL: "http://x", Breaker: upstream.BreakerConfig{FailureRatio: 2}},
	}
	for i, c := range bad {
		if _, err := upstream.New(c, upstream.Deps{}); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	var ty upstream.Type
	if err := ty.UnmarshalText([]byte("widevine-direct")); err != nil || ty != upstream.WidevineDirect {
		t.Errorf("parse: %v", err)
	}
	if _, err := upstream.ParseType("keyos"); !errors.Is(err, upstream.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
}
