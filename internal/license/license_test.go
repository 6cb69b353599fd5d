package license_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
	"github.com/drmpipe/drmpipe/internal/redisclient"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// fakeAuthorizer stands in for entitlement's Authorizer (written in
// parallel): token "t-<user>" is granted with jti "<user>-jti".
type fakeAuthorizer struct{ calls atomic.Int64 }

func (f *fakeAuthorizer) Authorize(_ context.Context, req entitlement.Request) (entitlement.Decision, error) {
	f.calls.Add(1)
	user, ok := strings.CutPrefix(req.Token, "t-")
	if !ok {
		return entitlement.Decision{}, &entitlement.DenyError{Reason: entitlement.ReasonTokenExpired, Message: "expired"}
	}
	return entitlement.Decision{Subject: user, ContentID: "movie", JTI: user + "-jti", TokenExpiry: time.Now().Add(time.Minute)}, nil
}

func gateway(t *testing.T, d *vendortest.Server, deps license.Deps) http.Handler {
	t.Helper()
	if deps.Authorizer == nil {
		deps.Authorizer = &fakeAuthorizer{}
	}
	ep, err := license.NewEndpoint(license.EndpointConfig{}, drm.Widevine, deps)
	if err != nil {
		t.Fatal(err)
	}
	c, err := upstream.New(upstream.Config{Type: upstream.Generic, URL: d.URL(), Timeout: 2 * time.Second}, upstream.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return license.NewGateway(ep, c, nil)
}

func send(h http.Handler, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/license/widevine", strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	r.RemoteAddr = "192.0.2.10:5555"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGatewayForwardsAndCaches(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	h := gateway(t, d, license.Deps{Cache: license.NewMemoryCache(0, nil)})
	w := send(h, "t-alice", "challenge-1")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), vendortest.License([]byte("challenge-1"))) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	for i := 0; i < 3; i++ {
		if w := send(h, "t-alice", "challenge-1"); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), vendortest.License([]byte("challenge-1"))) {
			t.Fatalf("duplicate: %d", w.Code)
		}
	}
	if d.Calls() != 1 {
		t.Errorf("upstream calls %d for 4 identical requests", d.Calls())
	}
	send(h, "t-alice", "challenge-2")
	send(h, "t-bob", "challenge-1")
	if d.Calls() != 3 {
		t.Errorf("upstream calls %d, want 3 (new body, new jti)", d.Calls())
	}
	// Refusals never reach the upstream.
	w = send(h, "expired", "challenge-9")
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != 401 || b.Code != httperr.CodeTokenExpired || d.Calls() != 3 {
		t.Errorf("expired: %d %+v calls %d", w.Code, b, d.Calls())
	}
	if w := send(h, "", "x"); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
}

func TestGatewayConcurrentDuplicatesOneCall(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	d.Stall(200 * time.Millisecond) // keep the first call in flight while the others arrive
	for _, cache := range []license.Cache{license.NewMemoryCache(0, nil), nil} {
		h := gateway(t, d, license.Deps{Cache: cache})
		before := d.Calls()
		var wg sync.WaitGroup
		var ok atomic.Int64
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if w := send(h, "t-carol", "same"); w.Code == 200 && bytes.Equal(w.Body.Bytes(), vendortest.License([]byte("same"))) {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 10 || d.Calls()-before != 1 {
			t.Errorf("cache %v: %d ok, %d upstream calls", cache != nil, ok.Load(), d.Calls()-before)
		}
	}
}

func TestGatewayUpstreamErrorsDoNotLeak(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	h := gateway(t, d, license.Deps{Cache: license.NewMemoryCache(0, nil)})
	d.Fail(http.StatusForbidden)
	w := send(h, "t-dave", "c")
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != http.StatusBadGateway || b.Code != httperr.CodeUpstreamError || strings.Contains(w.Body.String(), "vendor") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	// Errors are not cached: the next try reaches the (now healthy) upstream.
	d.Healthy()
	if w := send(h, "t-dave", "c"); w.Code != 200 {
		t.Errorf("after recovery: %d", w.Code)
	}
}

// TestUnauthorizedChallenges: every 401 of a license endpoint carries the
// WWW-Authenticate challenge RFC 9110 §11.6.1 requires, with RFC 6750
// §3.1's error="invalid_token" only when a playback token was refused; a
// 403 (an entitled viewer's refusal) carries none.
func TestUnauthorizedChallenges(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	h := gateway(t, d, license.Deps{})
	for _, c := range []struct {
		name, token string
		status      int
		challenge   string
	}{
		{"no token", "", http.StatusUnauthorized, `Bearer realm="drmpipe"`},
		{"refused token", "expired", http.StatusUnauthorized, `Bearer realm="drmpipe", error="invalid_token"`},
		{"granted", "t-erin", http.StatusOK, ""},
	} {
		w := send(h, c.token, "c")
		if w.Code != c.status || w.Header().Get("WWW-Authenticate") != c.challenge {
			t.Errorf("%s: %d WWW-Authenticate %q, want %d %q", c.name, w.Code, w.Header().Get("WWW-Authenticate"), c.status, c.challenge)
		}
	}
}

func TestRateLimitPerIP(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	auth := &fakeAuthorizer{}
	lim := license.NewLimiter(license.RateLimits{PerIP: 1, PerIPBurst: 3}, nil)
	h := gateway(t, d, license.Deps{Limiter: lim, Authorizer: auth})
	codes := []int{}
	for i := 0; i < 5; i++ {
		codes = append(codes, send(h, "t-erin", "c").Code)
	}
	if codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Errorf("codes %v", codes)
	}
	if auth.calls.Load() != 3 {
		t.Errorf("authorizer called %d times; limited requests must be refused before verification", auth.calls.Load())
	}
	w := send(h, "t-erin", "c")
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if b.Code != httperr.CodeRateLimited || b.RetryAfter < 1 || w.Header().Get("Retry-After") == "" {
		t.Errorf("body %+v", b)
	}
}

func TestLimiterRefills(t *testing.T) {
	now := time.Unix(0, 0)
	lim := license.NewLimiter(license.RateLimits{PerUser: 2, PerUserBurst: 1, MaxKeys: 2}, func() time.Time { return now })
	if ok, _ := lim.AllowUser("u"); !ok {
		t.Fatal("first refused")
	}
	ok, wait := lim.AllowUser("u")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("second: %v %v", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := lim.AllowUser("u"); !ok {
		t.Error("not refilled")
	}
	for _, u := range []string{"a", "b", "c", "d"} { // beyond MaxKeys: bounded, still works
		if ok, _ := lim.AllowUser(u); !ok {
			t.Errorf("new user %s refused", u)
		}
	}
}

func TestMemoryCacheLRUAndPurge(t *testing.T) {
	now := time.Unix(1000, 0)
	c := license.NewMemoryCache(3, func() time.Time { return now })
	ctx := context.Background()
	set := func(k, user, content string) {
		c.Set(ctx, k, license.Response{Body: []byte(k)}, license.Tags{JTI: k + "-jti", User: user, Content: content}, time.Minute)
	}
	set("a", "u1", "m1")
	set("b", "u1", "m2")
	set("c", "u2", "m1")
	c.Get(ctx, "a") // a is now most recent; b is the LRU
	set("d", "u2", "m2")
	if _, ok := c.Get(ctx, "b"); ok {
		t.Error("LRU entry not evicted")
	}
	if _, ok := c.Get(ctx, "a"); !ok || c.Len() != 3 {
		t.Error("recent entry evicted")
	}
	if n, err := c.Purge(ctx, license.PurgeFilter{User: "u2", Content: "m1"}); n != 1 || err != nil {
		t.Errorf("purge user+content: %d %v", n, err)
	}
	if _, ok := c.Get(ctx, "c"); ok {
		t.Error("purged entry served")
	}
	if n, _ := c.Purge(ctx, license.PurgeFilter{JTI: "a-jti"}); n != 1 {
		t.Errorf("purge jti: %d", n)
	}
	if _, err := c.Purge(ctx, license.PurgeFilter{}); !errors.Is(err, license.ErrEmptyPurge) {
		t.Errorf("empty purge: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.Get(ctx, "d"); ok {
		t.Error("expired entry served")
	}
}

func TestRedisCache(t *testing.T) {
	rs := testtools.StartRedis(t)
	rc := license.NewRedisCache(license.RedisCacheConfig{Redis: redisclient.Config{Addr: rs.Addr}}, nil)
	defer rc.Close()
	ctx := context.Background()
	resp := license.Response{ContentType: "application/octet-stream", Body: []byte{0, 1, 2, 0xff}}
	rc.Set(ctx, "k1", resp, license.Tags{JTI: "j1", User: "u1", Content: "m1"}, 5*time.Second)
	rc.Set(ctx, "k2", resp, license.Tags{JTI: "j2", User: "u1", Content: "m2"}, 5*time.Second)
	got, ok := rc.Get(ctx, "k1")
	if !ok || !bytes.Equal(got.Body, resp.Body) || got.ContentType != resp.ContentType {
		t.Fatalf("get: %v %+v", ok, got)
	}
	if n, err := rc.Purge(ctx, license.PurgeFilter{User: "u1", Content: "m2"}); n != 1 || err != nil {
		t.Errorf("purge: %d %v", n, err)
	}
	if _, ok := rc.Get(ctx, "k2"); ok {
		t.Error("purged entry served")
	}
	if _, ok := rc.Get(ctx, "k1"); !ok {
		t.Error("unmatched entry purged")
	}

	// Through a gateway: a second replica (another gateway, same Redis)
	// answers a duplicate without calling the upstream.
	d := vendortest.New(vendortest.Generic, vendortest.Options{})
	defer d.Close()
	h1 := gateway(t, d, license.Deps{Cache: rc})
	h2 := gateway(t, d, license.Deps{Cache: license.NewRedisCache(license.RedisCacheConfig{Redis: redisclient.Config{Addr: rs.Addr}}, nil)})
	if w := send(h1, "t-frank", "c"); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := send(h2, "t-frank", "c"); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), vendortest.License([]byte("c"))) || d.Calls() != 1 {
		t.Errorf("replica: %d, calls %d", w.Code, d.Calls())
	}

	// Redis down: no cache, not an outage.
	rs.Stop()
	start := time.Now()
	for i := 0; i < 3; i++ {
		if w := send(h1, "t-frank", "c"); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), vendortest.License([]byte("c"))) {
			t.Fatalf("with Redis down: %d %s", w.Code, w.Body)
		}
	}
	if d.Calls() != 4 {
		t.Errorf("calls %d, want 4 (no cache while Redis is down)", d.Calls())
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Redis down slowed licenses: %v", time.Since(start))
	}
}

func TestCORS(t *testing.T) {
	mw, err := license.CORS(license.CORSConfig{AllowedOrigins: []string{"https://player.example"}, AllowCredentials: true, MaxAge: time.Hour}, "X-Playback-Token")
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1); w.WriteHeader(200) }))
	do := func(method, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/license/widevine", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if method == http.MethodOptions {
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do(http.MethodOptions, "https://player.example")
	hd := w.Header()
	if w.Code != 204 || hd.Get("Access-Control-Allow-Origin") != "https://player.example" || hd.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "X-Playback-Token") || hd.Get("Access-Control-Max-Age") != "3600" ||
		!strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") || reached.Load() != 0 {
		t.Errorf("preflight %d %v", w.Code, hd)
	}
	w = do(http.MethodPost, "https://player.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://player.example" || !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Retry-After") || reached.Load() != 1 {
		t.Errorf("actual request %v", w.Header())
	}
	w = do(http.MethodPost, "https://evil.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("foreign origin %v", w.Header())
	}
	w = do(http.MethodOptions, "https://evil.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("foreign preflight allowed")
	}
	if w := do(http.MethodPost, ""); w.Code != 200 { // same origin
		t.Errorf("same-origin %d", w.Code)
	}
	if _, err := license.CORS(license.CORSConfig{AllowedOrigins: []string{"*"}, AllowCredentials: true}, ""); !errors.Is(err, license.ErrConfig) {
		t.Errorf("* with credentials: %v", err)
	}
	// "*" without credentials: any origin is echoed, never a literal "*".
	mw2, _ := license.CORS(license.CORSConfig{AllowedOrigins: []string{"*"}}, "")
	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Origin", "https://any.example")
	mw2(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "https://any.example" {
		t.Errorf("wildcard %v", w.Header())
	}
}

func TestDenyToHTTP(t *testing.T) {
	cases := map[entitlement.Reason]httperr.Code{
		entitlement.ReasonRevoked: httperr.CodeRevoked, entitlement.ReasonGeoBlocked: httperr.CodeGeoBlocked,
		entitlement.ReasonDeviceLimit: httperr.CodeDeviceLimit, entitlement.ReasonSubscription: httperr.CodeSubscription,
		entitlement.ReasonUnavailable: httperr.CodeUnavailable, entitlement.ReasonReplay: httperr.CodeTokenInvalid,
	}
	for reason, code := range cases {
		err := license.DenyToHTTP(&entitlement.DenyError{Reason: reason, Message: "m", Cause: errors.New("secret-cause")})
		var he *httperr.Error
		if !errors.As(err, &he) || he.Code != code || strings.Contains(he.Message, "secret") {
			t.Errorf("%v -> %v", reason, err)
		}
	}
	var he *httperr.Error
	if errors.As(license.DenyToHTTP(errors.New("boom")), &he); he.Status != 500 {
		t.Errorf("plain error -> %d", he.Status)
	}
}

// TestLimiterOverflowKeepsThrottled: when more addresses arrive than the
// table tracks, a client that has used up its burst stays throttled; the
// table makes room by dropping the buckets that carry the least state
// (issue 16, defect 9: the table used to be emptied, handing every
// throttled client a fresh burst).
func TestLimiterOverflowKeepsThrottled(t *testing.T) {
	now := time.Unix(0, 0)
	lim := license.NewLimiter(license.RateLimits{PerIP: 1, PerIPBurst: 3, MaxKeys: 100}, func() time.Time { return now })
	flooder := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 3; i++ {
		if ok, _ := lim.AllowIP(flooder); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	if ok, _ := lim.AllowIP(flooder); ok {
		t.Fatal("request beyond the burst allowed")
	}
	// Ten times the table's size of other addresses, each one request,
	// over half a second (the flooder earns half a token meanwhile).
	for i := 0; i < 1000; i++ {
		if i%100 == 0 {
			now = now.Add(50 * time.Millisecond)
		}
		if ok, _ := lim.AllowIP(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})); !ok {
			t.Fatalf("new address %d refused", i)
		}
	}
	if ok, wait := lim.AllowIP(flooder); ok {
		t.Error("throttled client got a fresh burst after the table overflowed")
	} else if wait <= 0 || wait > time.Second {
		t.Errorf("throttled client told to wait %v, want (0, 1s]", wait)
	}
	// A client seen after the flooder and throttled as well keeps its
	// state too: the fuller buckets of one-request addresses go first.
	second := netip.MustParseAddr("192.0.2.2")
	for i := 0; i < 3; i++ {
		lim.AllowIP(second)
	}
	for i := 1000; i < 1300; i++ {
		lim.AllowIP(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if ok, _ := lim.AllowIP(second); ok {
		t.Error("second throttled client got a fresh burst")
	}
}
