package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Issue 16: the per-token use limit (max_uses) must not start again from
// zero when Redis goes down: an exhausted token never works again. Two
// replicas on PostgreSQL and a real redis-server; the outage policy is
// documented on entitlement.SharedState.
func TestReplayLimitSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	pg := testtools.StartPostgres(t)
	rd := testtools.StartRedis(t)
	d := newDeployment(t, setup{Redis: rd.Addr, StoreDSN: pg.DSN, Edit: func(m map[string]any) {
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
	// The store records the exhausted token: it stays exhausted on both
	// replicas, whichever counted it.
	wantStatus(t, "exhausted token on replica A during the outage", use(a, spent), http.StatusUnauthorized, "token_invalid")
	wantStatus(t, "exhausted token on replica B during the outage", use(b, spent), http.StatusUnauthorized, "token_invalid")
	// A counted bob's token once: two more uses there, then refused.
	checkLicense(t, use(a, once), k.ContentKey)
	checkLicense(t, use(a, once), k.ContentKey)
	wantStatus(t, "bob's fourth use on A during the outage", use(a, once), http.StatusUnauthorized, "token_invalid")
	// Exhausted on A: B, which never counted it, refuses it too.
	wantStatus(t, "bob's token on B once A exhausted it", use(b, once), http.StatusUnauthorized, "token_invalid")
	// A token minted during the outage is served and counted.
	fresh := mint("cyd")
	for range 3 {
		checkLicense(t, use(b, fresh), k.ContentKey)
	}
	wantStatus(t, "fresh token's fourth use on B", use(b, fresh), http.StatusUnauthorized, "token_invalid")
	wantStatus(t, "fresh token on A once B exhausted it", use(a, fresh), http.StatusUnauthorized, "token_invalid")

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
