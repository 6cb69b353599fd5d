package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Issue 16: the per-token use limit (max_uses) must not start again from
// zero when Redis goes down. Two replicas on PostgreSQL and a real
// redis-server; the outage policy is documented on entitlement.SharedState.
func TestReplayLimitSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	const skew = time.Second
	pg := testtools.StartPostgres(t)
	rd := testtools.StartRedis(t)
	d := newDeployment(t, setup{Redis: rd.Addr, StoreDSN: pg.DSN, Edit: func(m map[string]any) {
		m["tokens"].(map[string]any)["clock_skew"] = skew.String()
		m["policy"] = map[string]any{"default": map[string]any{"max_uses": 3}}
	}})
	a, b := d.start(t), d.start(t)
	k := a.content(t, "replay-outage")
	use := func(r *replica, tok string) response { return r.clearKeyLicense(t, tok, k.KID) }
	mint := func(sub string) string {
		return a.token(t, entitlement.Claims{Subject: sub, ContentID: k.id, IssuedAt: time.Now()})
	}

	// Exhausted before the outage: three uses spread over both replicas.
	spent := mint("ada")
	for _, r := range []*replica{a, b, a} {
		checkLicense(t, use(r, spent), k.ContentKey)
	}
	wantStatus(t, "fourth use with Redis up", use(b, spent), http.StatusUnauthorized, "token_invalid")
	// Counted once on A only, before the outage.
	once := mint("bob")
	checkLicense(t, use(a, once), k.ContentKey)

	rd.Stop()
	// A has counted the exhausted token: it stays exhausted.
	wantStatus(t, "exhausted token on replica A during the outage", use(a, spent), http.StatusUnauthorized, "token_invalid")
	// B has counted it too (its second use went through B).
	wantStatus(t, "exhausted token on replica B during the outage", use(b, spent), http.StatusUnauthorized, "token_invalid")
	// B never counted bob's token, issued before the outage: unknown, so
	// refused as retryable rather than counted from zero.
	resp := use(b, once)
	wantStatus(t, "token issued before the outage, unknown to B", resp, http.StatusServiceUnavailable, "unavailable")
	if e := resp.errBody(t); e.RetryAfter <= 0 {
		t.Errorf("503 without retryAfter: %s", resp.body)
	}
	// A counted bob's token once: two more uses, then refused.
	checkLicense(t, use(a, once), k.ContentKey)
	checkLicense(t, use(a, once), k.ContentKey)
	wantStatus(t, "bob's fourth use on A during the outage", use(a, once), http.StatusUnauthorized, "token_invalid")

	// A token issued after the outage began (beyond the clock skew; iat
	// has whole seconds) cannot have been used before it: counted locally.
	time.Sleep(skew + 1100*time.Millisecond)
	fresh := mint("cyd")
	for range 3 {
		checkLicense(t, use(b, fresh), k.ContentKey)
	}
	wantStatus(t, "fresh token's fourth use on B", use(b, fresh), http.StatusUnauthorized, "token_invalid")

	// Redis back: uses made during the outage still count.
	rd.Start(t)
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool { return b.status(t, "/readyz") == http.StatusOK }) {
		t.Fatal("replica B not ready within 5s of Redis coming back")
	}
	wantStatus(t, "fresh token on B after Redis came back", use(b, fresh), http.StatusUnauthorized, "token_invalid")
	wantStatus(t, "bob's token on A after Redis came back", use(a, once), http.StatusUnauthorized, "token_invalid")
}

// wantStatus fails unless resp has status and error code.
func wantStatus(t *testing.T, what string, resp response, status int, code string) {
	t.Helper()
	if resp.status != status {
		t.Fatalf("%s: status %d %s, want %d %s", what, resp.status, resp.body, status, code)
	}
	if e := resp.errBody(t); e.Code != code {
		t.Fatalf("%s: code %q, want %q", what, e.Code, code)
	}
}
