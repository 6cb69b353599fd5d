package entitlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// operator is a subscription callback double.
type operator struct {
	calls  atomic.Int32
	stall  atomic.Bool
	status atomic.Int32
	active map[string]bool
	method atomic.Value
}

func (o *operator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	o.method.Store(r.Method)
	if o.stall.Load() {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		return
	}
	if s := o.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	user := r.URL.Query().Get("user")
	if r.Method == http.MethodPost {
		var body struct{ User, Content string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		user = body.User
	}
	if r.Header.Get("Authorization") != "Bearer op-secret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]bool{"active": o.active[user]})
}

func TestSubscriptionCallback(t *testing.T) {
	clk := newClock()
	op := &operator{active: map[string]bool{"user-1": true}}
	hs := httptest.NewServer(op)
	defer hs.Close()
	subs, err := entitlement.NewCallbackSubscriptions(entitlement.CallbackConfig{
		URL: hs.URL, Timeout: 200 * time.Millisecond, TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clk.Now,
		Headers: map[string]string{"Authorization": "Bearer op-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	k := getKeys(t)
	req := true
	svc := entitlement.New(entitlement.Config{Policy: entitlement.PolicyConfig{
		Default: entitlement.ContentPolicy{MaxUses: -1},
		Content: map[string]entitlement.PolicyOverride{"movie-1": {RequireSubscription: &req}},
	}}, entitlement.Deps{Verifier: newVerifier(t, k.public(), clk), Subscriptions: subs, Clock: clk.Now})
	ctx := context.Background()
	tokenFor := func(user, content string) string {
		c := baseClaims(clk.Now())
		c["sub"], c["cid"] = user, content
		return mint(t, jwt.SigningMethodES256, k.ec, "ec1", c)
	}

	if _, err := svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-1", "movie-1")}); err != nil {
		t.Fatalf("active user: %v", err)
	}
	_, err = svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "movie-1")})
	wantReason(t, err, entitlement.ReasonSubscription)
	if _, err := svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "free-movie")}); err != nil {
		t.Fatalf("content without subscription rule: %v", err)
	}
	if n := op.calls.Load(); n != 2 {
		t.Fatalf("%d callback calls, want 2", n)
	}
	// Cached: the operator now stalls, but both answers come from the cache.
	op.stall.Store(true)
	if _, err := svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-1", "movie-1")}); err != nil {
		t.Fatalf("cached active: %v", err)
	}
	_, err = svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "movie-1")})
	wantReason(t, err, entitlement.ReasonSubscription)
	if n := op.calls.Load(); n != 2 {
		t.Fatalf("%d callback calls with a warm cache, want 2", n)
	}
	// The negative answer expires first; the stalled callback is a
	// retryable failure, not a grant and not a refusal.
	clk.Advance(11 * time.Second)
	start := time.Now()
	_, err = svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "movie-1")})
	de := wantReason(t, err, entitlement.ReasonUnavailable)
	if !errors.Is(de, entitlement.ErrSubscriptionCallback) || time.Since(start) > 2*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
	if _, err := svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-1", "movie-1")}); err != nil {
		t.Fatalf("positive answer still cached: %v", err)
	}
	// Errors are not cached; a bad status is unavailable too.
	op.stall.Store(false)
	op.status.Store(http.StatusInternalServerError)
	_, err = svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "movie-1")})
	wantReason(t, err, entitlement.ReasonUnavailable)
	op.status.Store(0)
	op.active["user-2"] = true
	if _, err := svc.Authorize(ctx, entitlement.Request{Token: tokenFor("user-2", "movie-1")}); err != nil {
		t.Fatalf("user-2 after subscribing: %v", err)
	}
}

func TestSubscriptionCallbackPOST(t *testing.T) {
	op := &operator{active: map[string]bool{"u": true}}
	hs := httptest.NewServer(op)
	defer hs.Close()
	subs, err := entitlement.NewCallbackSubscriptions(entitlement.CallbackConfig{URL: hs.URL, Method: "POST", Headers: map[string]string{"Authorization": "Bearer op-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := subs.Active(context.Background(), "u", "c"); !ok || err != nil || op.method.Load() != "POST" {
		t.Fatalf("POST callback: %v %v %v", ok, err, op.method.Load())
	}
	for _, bad := range []entitlement.CallbackConfig{{URL: "ftp://x"}, {URL: "/relative"}, {URL: hs.URL, Method: "PUT"}} {
		if _, err := entitlement.NewCallbackSubscriptions(bad); !errors.Is(err, entitlement.ErrConfig) {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// deviceLimitTest exercises a DeviceTracker through the service: limit 2
// devices in a 1 h sliding window.
func deviceLimitTest(t *testing.T, devices entitlement.DeviceTracker) {
	t.Helper()
	clk := newClock()
	k := getKeys(t)
	two := 2
	svc := entitlement.New(entitlement.Config{Policy: entitlement.PolicyConfig{
		Default: entitlement.ContentPolicy{MaxUses: -1, MaxDevices: two, DeviceWindow: time.Hour},
	}}, entitlement.Deps{Verifier: newVerifier(t, k.public(), clk), Devices: devices, Clock: clk.Now})
	ctx := context.Background()
	try := func(user, device string) error {
		c := baseClaims(clk.Now())
		c["sub"], c["did"] = user, device
		if device == "" {
			delete(c, "did")
		}
		_, err := svc.Authorize(ctx, entitlement.Request{Token: mint(t, jwt.SigningMethodES256, k.ec, "ec1", c)})
		return err
	}
	ok := func(user, device string) {
		t.Helper()
		if err := try(user, device); err != nil {
			t.Fatalf("%s/%s: %v", user, device, err)
		}
	}
	ok("alice", "phone")
	clk.Advance(10 * time.Minute)
	ok("alice", "tv")
	ok("alice", "phone") // known device: refreshed to t=10m
	wantReason(t, try("alice", "laptop"), entitlement.ReasonDeviceLimit)
	ok("bob", "laptop") // limits are per user
	wantReason(t, try("alice", ""), entitlement.ReasonNotEntitled)
	// At t=70m+1s "tv" (seen at 10m) has left the window; "phone" (refreshed at 10m) too.
	clk.Advance(time.Hour + time.Second)
	ok("alice", "laptop")
	ok("alice", "tablet")
	wantReason(t, try("alice", "phone"), entitlement.ReasonDeviceLimit)
}

func TestDeviceLimitMemory(t *testing.T) { deviceLimitTest(t, entitlement.NewMemoryDevices()) }

func TestMemoryReplayExpires(t *testing.T) {
	r := entitlement.NewMemoryReplay()
	now := time.Unix(1000, 0)
	for i := int64(1); i <= 3; i++ {
		if n, _ := r.Use(context.Background(), "j", now, now, 30*time.Second); n != i {
			t.Fatalf("use %d counted %d", i, n)
		}
	}
	if n, _ := r.Use(context.Background(), "j", now, now.Add(31*time.Second), 30*time.Second); n != 1 {
		t.Errorf("after ttl counted %d, want 1", n)
	}
}
