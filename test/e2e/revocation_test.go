package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Issue 16: a revocation made while Redis is down must not be lost. The
// store's audit log is the durable record; the replica that takes the
// revocation applies it at once, and every other replica learns it from
// the log (every policy.revocations.resync_interval, and at once when its
// Redis connection comes back).

// outage is a deployment on PostgreSQL and Redis whose replicas re-read
// the audit log every period: two replicas, a content and an admin key.
type outage struct {
	d        *deployment
	rd       *testtools.Redis
	a, b     *replica
	k        content
	adminKey string
}

func newOutage(t *testing.T, period time.Duration, contentID string) *outage {
	t.Helper()
	pg := testtools.StartPostgres(t)
	o := &outage{rd: testtools.StartRedis(t)}
	o.d = newDeployment(t, setup{Redis: o.rd.Addr, StoreDSN: pg.DSN, Edit: func(m map[string]any) {
		m["policy"] = map[string]any{"revocations": map[string]any{"resync_interval": period.String()}}
	}})
	o.a, o.b = o.d.start(t), o.d.start(t)
	o.k = o.a.content(t, contentID)
	o.adminKey = o.a.apiKey(t, apikey.ScopeAdmin)
	return o
}

// content is a content ID and its key.
type content struct {
	id string
	keys.ContentKey
}

// content creates a content with one HD key.
func (r *replica) content(t *testing.T, id string) content {
	t.Helper()
	return content{id: id, ContentKey: r.key(t, id, keys.HD)}
}

// userLicense asks r for a ClearKey license of c for user sub (a fresh
// token each time, so the per-token use limit never interferes).
func userLicense(t *testing.T, r *replica, sub string, c content) response {
	t.Helper()
	return r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: sub, ContentID: c.id}), c.KID)
}

// requireRevoked fails unless resp is the refusal of a revoked user.
func requireRevoked(t *testing.T, what string, resp response) {
	t.Helper()
	if resp.status != http.StatusForbidden {
		t.Fatalf("%s: status %d %s, want 403 revoked", what, resp.status, resp.body)
	}
	if e := resp.errBody(t); e.Code != "revoked" {
		t.Fatalf("%s: code %q, want revoked", what, e.Code)
	}
}

// refusedWithin polls r until it refuses sub's license as revoked, for at
// most bound, and returns how long that took since start.
func refusedWithin(t *testing.T, r *replica, sub string, k content, start time.Time, bound time.Duration) time.Duration {
	t.Helper()
	var last response
	if !eventually(bound, 20*time.Millisecond, func() bool {
		last = userLicense(t, r, sub, k)
		return last.status == http.StatusForbidden
	}) {
		t.Fatalf("revocation of %s not enforced within %v: %d %s", sub, bound, last.status, last.body)
	}
	took := time.Since(start)
	requireRevoked(t, "converged replica", last)
	return took
}

// TestRevocationWhileRedisDown: with Redis down, a revocation taken by
// replica A is refused by A at once and by replica B within the re-sync
// period (plus scheduling slack), measured.
func TestRevocationWhileRedisDown(t *testing.T) {
	t.Parallel()
	const period = 300 * time.Millisecond
	o := newOutage(t, period, "outage")
	rd, a, b, k, adminKey := o.rd, o.a, o.b, o.k, o.adminKey
	checkLicense(t, userLicense(t, a, "kate", k), k.ContentKey)
	checkLicense(t, userLicense(t, b, "kate", k), k.ContentKey)

	rd.Stop()
	start := time.Now()
	resp := a.revokeWant(t, adminKey, "user", "kate", http.StatusAccepted)
	if !bytes.Contains(resp.body, []byte(`"kate"`)) {
		t.Errorf("202 answer does not carry the revocation: %s", resp.body)
	}
	requireRevoked(t, "replica A right after taking the revocation", userLicense(t, a, "kate", k))
	took := refusedWithin(t, b, "kate", k, start, 2*period+time.Second)
	t.Logf("Redis down: replica B enforced the revocation %v after replica A took it (re-sync period %v)", took.Round(time.Millisecond), period)
	checkLicense(t, userLicense(t, b, "lena", k), k.ContentKey)
	// Each replica notified it (cache purge, webhooks) once: A when it
	// took it, B when it learned it, neither again at later re-syncs.
	time.Sleep(3 * period)
	for name, r := range map[string]*replica{"A": a, "B": b} {
		if m := do(t, http.MethodGet, r.url+"/metrics", nil); !bytes.Contains(m.body, []byte(`drmpipe_revocations_total{kind="user"} 1`+"\n")) {
			t.Errorf("replica %s did not notify the revocation exactly once: /metrics %d, revocation lines %q", name, m.status, revocationLines(m.body))
		}
	}

	// Redis back: the shared path works again and the outage's
	// revocation stays on both.
	rd.Start(t)
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool { return b.status(t, "/readyz") == http.StatusOK }) {
		t.Fatal("replica B not ready within 5s of Redis coming back")
	}
	b.revoke(t, adminKey, "user", "lena")
	refusedWithin(t, a, "lena", k, time.Now(), time.Second)
	requireRevoked(t, "replica A after Redis came back", userLicense(t, a, "kate", k))
	requireRevoked(t, "replica B after Redis came back", userLicense(t, b, "kate", k))
}

// TestRevocationRedisReconnect: with a re-sync period far longer than the
// test, replica B learns a revocation made during a Redis outage when its
// Redis connection comes back (measured).
func TestRevocationRedisReconnect(t *testing.T) {
	t.Parallel()
	o := newOutage(t, time.Hour, "reconnect")
	rd, a, b, k, adminKey := o.rd, o.a, o.b, o.k, o.adminKey

	rd.Stop()
	a.revokeWant(t, adminKey, "user", "mona", http.StatusAccepted)
	requireRevoked(t, "replica A right after taking the revocation", userLicense(t, a, "mona", k))
	// B cannot know yet: neither Redis nor its (hourly) re-sync told it.
	checkLicense(t, userLicense(t, b, "mona", k), k.ContentKey)

	rd.Start(t)
	start := time.Now()
	took := refusedWithin(t, b, "mona", k, start, 5*time.Second)
	t.Logf("Redis back: replica B enforced the outage's revocation %v after Redis restarted", took.Round(time.Millisecond))
}

// TestRevocationRestartDuringRedisOutage: a replica restarted after a
// revocation made during a Redis outage restores it from the audit log,
// and the replica that was not restarted enforces it too: the replicas
// agree, on licenses and on the admin API's revocation list.
func TestRevocationRestartDuringRedisOutage(t *testing.T) {
	t.Parallel()
	const period = 300 * time.Millisecond
	o := newOutage(t, period, "restart-outage")
	rd, a, b, k, adminKey := o.rd, o.a, o.b, o.k, o.adminKey

	rd.Stop()
	start := time.Now()
	a.revokeWant(t, adminKey, "user", "nina", http.StatusAccepted)
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	took := refusedWithin(t, b, "nina", k, start, 2*period+time.Second)
	t.Logf("replica B (not restarted) enforced the revocation %v after it was taken", took.Round(time.Millisecond))
	a2 := o.d.start(t)
	requireRevoked(t, "restarted replica", userLicense(t, a2, "nina", k))
	for _, r := range []*replica{a2, b} {
		resp := do(t, http.MethodGet, r.url+"/v1/admin/revocations", nil, "Authorization", "Bearer "+adminKey)
		if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte(`"nina"`)) {
			t.Errorf("revocation list of %s: %d %s", r.url, resp.status, resp.body)
		}
	}
}

// revocationLines returns the revocation counters of a /metrics body.
func revocationLines(body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "drmpipe_revocations_total") {
			out = append(out, l)
		}
	}
	return out
}
