package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/revocation"
	"github.com/drmpipe/drmpipe/internal/testtools"
	"github.com/drmpipe/drmpipe/internal/testtools/teststore"
)

// newStore opens the real SQLite key store with a local KMS in a temp dir.
func newStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	return teststore.Open(t)
}

// countMetrics counts ObserveRevocation calls by kind.
type countMetrics struct{ n testtools.Tally }

func (m *countMetrics) ObserveRevocation(kind string) { m.n.Add(kind) }

func (m *countMetrics) count(kind string) int { return m.n.Count(kind) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newService is the service over st; deps.Keys and deps.Audit default to st.
func newService(t *testing.T, st *sqlstore.Store, cfg revocation.Config, deps revocation.Deps) *revocation.Service {
	t.Helper()
	deps.Keys, deps.Audit, deps.Logger = st, st, quiet
	s, err := revocation.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRevokeKID: a KID revocation is normalized, flips the key's state,
// is recorded under its typed action and applied to the live list, which
// notifies the reactions once.
func TestRevokeKID(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	live := entitlement.NewMemoryRevocations(nil)
	m := &countMetrics{}
	svc := newService(t, st, revocation.Config{}, revocation.Deps{Live: live, Metrics: m})
	k, err := st.GetOrCreate(ctx, "movie", keys.HD, 0)
	if err != nil {
		t.Fatal(err)
	}

	rev, reach, err := svc.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeKID, Value: "  " + strings.ToUpper(k.KID.String()) + " ", By: "apikey:ops", Reason: "leaked"})
	if err != nil || reach != revocation.ReachAll {
		t.Fatalf("Revoke: reach %d, %v", reach, err)
	}
	if rev.Value != k.KID.String() || rev.At.IsZero() {
		t.Errorf("revocation as recorded %+v, want the canonical KID and a time", rev)
	}
	stored, err := st.Get(ctx, k.KID)
	if err != nil || stored.State != keys.StateRevoked {
		t.Errorf("key state after the revocation: %v %v", stored.State, err)
	}
	if revoked, _ := live.IsRevoked(ctx, entitlement.RevokeKID, k.KID.String()); !revoked {
		t.Error("live list does not hold the revoked KID")
	}
	audit, err := st.ListAudit(ctx, apikey.AuditQuery{Target: k.KID.String()})
	if err != nil || len(audit) != 1 || audit[0].Action != string(revocation.ActionRevokeKID) || audit[0].Actor != "apikey:ops" || audit[0].Detail != "leaked" || !audit[0].At.Equal(rev.At) {
		t.Errorf("audit log: %+v %v", audit, err)
	}
	list, err := svc.List(ctx)
	if err != nil || len(list) != 1 || list[0] != rev {
		t.Errorf("List: %+v %v, want [%+v]", list, err, rev)
	}
	if n := m.count("kid"); n != 1 {
		t.Errorf("revocation metric counted %d, want 1", n)
	}
}

// TestRevokeRefused: a revocation breaking a rule is ErrInvalid (the ID
// rule's error too), one of a KID the store does not hold is the store's
// not-found; neither is recorded or applied.
func TestRevokeRefused(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	live := entitlement.NewMemoryRevocations(nil)
	svc := newService(t, st, revocation.Config{}, revocation.Deps{Live: live})
	for _, c := range []struct {
		name string
		rev  entitlement.Revocation
		want []error
	}{
		{"user ID too long", entitlement.Revocation{Kind: entitlement.RevokeUser, Value: strings.Repeat("u", 300), By: "cli"}, []error{revocation.ErrInvalid, entitlement.ErrInvalidID}},
		{"user ID with surrounding space", entitlement.Revocation{Kind: entitlement.RevokeUser, Value: " eve", By: "cli"}, []error{revocation.ErrInvalid, entitlement.ErrInvalidID}},
		{"malformed KID", entitlement.Revocation{Kind: entitlement.RevokeKID, Value: "not-a-kid", By: "cli"}, []error{revocation.ErrInvalid}},
		{"unknown kind", entitlement.Revocation{Value: "eve", By: "cli"}, []error{revocation.ErrInvalid}},
		{"reason too long", entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "eve", By: "cli", Reason: strings.Repeat("r", 2000)}, []error{revocation.ErrInvalid}},
		{"KID not in the store", entitlement.Revocation{Kind: entitlement.RevokeKID, Value: "00000000-0000-0000-0000-000000000001", By: "cli"}, []error{keys.ErrKeyNotFound}},
	} {
		_, _, err := svc.Revoke(ctx, c.rev)
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", c.name, err, w)
			}
		}
	}
	if list, err := svc.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("refused revocations recorded: %+v %v", list, err)
	}
	if list, _ := live.List(ctx); len(list) != 0 {
		t.Errorf("refused revocations applied: %+v", list)
	}
}

// TestRecordedOnlyReachesServers: the CLI's service (no live list) only
// records; a server's list restores it at startup (RevocationSync.Restore,
// no reaction: it was made before) and learns later ones at a re-sync,
// reacting once to each.
func TestRecordedOnlyReachesServers(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	cli := newService(t, st, revocation.Config{}, revocation.Deps{})
	if _, reach, err := cli.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "cli"}); err != nil || reach != revocation.ReachRecorded {
		t.Fatalf("CLI revoke: reach %d, %v", reach, err)
	}

	live := entitlement.NewMemoryRevocations(nil)
	m := &countMetrics{}
	server := newService(t, st, revocation.Config{}, revocation.Deps{Live: live, Metrics: m})
	sync, err := entitlement.NewRevocationSync(entitlement.RevocationSyncConfig{}, entitlement.RevocationSyncDeps{Log: server, Revocations: live, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := live.IsRevoked(ctx, entitlement.RevokeUser, "mallory"); !revoked {
		t.Error("server did not restore the CLI's revocation")
	}
	if _, _, err := cli.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeDevice, Value: "tv-1", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	if n, err := sync.Sync(ctx); err != nil || n != 1 {
		t.Fatalf("re-sync learned %d, %v; want 1", n, err)
	}
	if revoked, _ := live.IsRevoked(ctx, entitlement.RevokeDevice, "tv-1"); !revoked {
		t.Error("server did not learn the CLI's later revocation")
	}
	if m.count("user") != 0 || m.count("device") != 1 {
		t.Errorf("reactions: user %d (restored: want 0), device %d (learned: want 1)", m.count("user"), m.count("device"))
	}
}

// TestRevocationsSelectedByType: the durable log selects revocations by
// their typed actions: other actions, even one that merely starts with
// "revoke.", are neither revocations nor an error that would stop a
// replica from restoring. Every kind has the action earlier versions
// recorded ("revoke.<kind>"), so their entries stay readable.
func TestRevocationsSelectedByType(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	svc := newService(t, st, revocation.Config{}, revocation.Deps{})
	for _, name := range []string{"user", "device", "token", "kid"} {
		kind, err := entitlement.ParseRevocationKind(name)
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := revocation.ActionOf(kind); !ok || string(a) != "revoke."+name {
			t.Errorf("action of %s: %q %v, want revoke.%s", name, a, ok, name)
		}
	}
	at := time.Now().Add(-time.Hour)
	for _, e := range []apikey.Entry{
		{Actor: "cli", Action: "revoke.user", Target: "old-user", At: at, Detail: "recorded by an earlier version"},
		{Actor: "cli", Action: "revoke.session", Target: "s-1", At: at},
		{Actor: "cli", Action: "apikey.revoke", Target: "0123456789abcdef", At: at},
	} {
		if err := st.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	list, err := svc.RevocationsSince(ctx, time.Time{})
	if err != nil {
		t.Fatalf("RevocationsSince with other actions in the log: %v", err)
	}
	if len(list) != 1 || list[0].Kind != entitlement.RevokeUser || list[0].Value != "old-user" || list[0].Reason != "recorded by an earlier version" {
		t.Errorf("revocations %+v, want the one revoke.user entry", list)
	}
}

// TestLicenseCachePurged: a revoked user's cached licenses are purged,
// other users' kept.
func TestLicenseCachePurged(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	cache := license.NewMemoryCache(16, nil)
	svc := newService(t, st, revocation.Config{}, revocation.Deps{Live: entitlement.NewMemoryRevocations(nil), Cache: cache})
	resp := license.Response{ContentType: "application/json", Body: []byte("{}")}
	cache.Set(ctx, "mallory-license", resp, license.Tags{User: "mallory", JTI: "j1"}, time.Minute)
	cache.Set(ctx, "erin-license", resp, license.Tags{User: "erin", JTI: "j2"}, time.Minute)
	if _, _, err := svc.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.Get(ctx, "mallory-license"); ok {
		t.Error("the revoked user's license is still cached")
	}
	if _, ok := cache.Get(ctx, "erin-license"); !ok {
		t.Error("another user's license was purged")
	}
}

// webhook is a CDN purge webhook on loopback: each call reads the body,
// then hold decides how it ends; outcomes are reported on ended.
type webhook struct {
	*httptest.Server
	bodies  chan []byte
	ended   chan string
	release chan struct{}
}

func newWebhook(t *testing.T, hold time.Duration) *webhook {
	t.Helper()
	w := &webhook{bodies: make(chan []byte, 8), ended: make(chan string, 8), release: make(chan struct{})}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// Reading the whole body lets the server notice the client going
		// away (net/http watches the connection only after the body).
		b, _ := io.ReadAll(r.Body)
		w.bodies <- b
		select {
		case <-time.After(hold):
			rw.WriteHeader(http.StatusNoContent)
			w.ended <- "finished"
		case <-r.Context().Done():
			w.ended <- "cancelled"
		case <-w.release:
			w.ended <- "released by the test's end"
		}
	}))
	t.Cleanup(func() { close(w.release); w.Close() })
	return w
}

func (w *webhook) body(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-w.bodies:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("the purge webhook was not called within 5s")
	}
	return nil
}

// TestPurgeWebhookBody: each revocation applied here is POSTed as the
// documented JSON {event, kind, value, at}.
func TestPurgeWebhookBody(t *testing.T) {
	ctx := context.Background()
	hook := newWebhook(t, 0)
	svc := newService(t, newStore(t), revocation.Config{PurgeWebhooks: []string{hook.URL + "/purge"}}, revocation.Deps{Live: entitlement.NewMemoryRevocations(nil)})
	rev, _, err := svc.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeDevice, Value: "tv-1", By: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Event, Kind, Value string
		At                 time.Time
	}
	if b := hook.body(t); json.Unmarshal(b, &ev) != nil || ev.Event != "revocation" || ev.Kind != "device" || ev.Value != "tv-1" || !ev.At.Equal(rev.At) {
		t.Errorf("webhook body %s, want {event: revocation, kind: device, value: tv-1, at: %v}", b, rev.At)
	}
}

// TestCloseFinishesWebhookInFlight: a webhook call shorter than the grace
// is let finish by Close.
func TestCloseFinishesWebhookInFlight(t *testing.T) {
	hook := newWebhook(t, 300*time.Millisecond)
	svc := newService(t, newStore(t), revocation.Config{PurgeWebhooks: []string{hook.URL}, CloseGrace: 5 * time.Second}, revocation.Deps{Live: entitlement.NewMemoryRevocations(nil)})
	if _, _, err := svc.Revoke(context.Background(), entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "eve", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	hook.body(t)
	start := time.Now()
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	select {
	case how := <-hook.ended:
		if how != "finished" {
			t.Errorf("webhook call %s, want finished", how)
		}
	default:
		t.Fatal("Close returned before the webhook call in flight ended")
	}
	if took > 3*time.Second {
		t.Errorf("Close took %v for a 300ms call", took)
	}
}

// TestCloseCancelsWebhookAfterGrace: a webhook call still running at the
// end of the grace is cancelled, Close returns about then, and
// revocations after Close call no webhook.
func TestCloseCancelsWebhookAfterGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	hook := newWebhook(t, time.Minute)
	live := entitlement.NewMemoryRevocations(nil)
	svc := newService(t, newStore(t), revocation.Config{PurgeWebhooks: []string{hook.URL}, CloseGrace: grace}, revocation.Deps{Live: live})
	ctx := context.Background()
	if _, _, err := svc.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "eve", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	hook.body(t)
	start := time.Now()
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < grace || took > grace+2*time.Second {
		t.Errorf("Close took %v, want about the grace %v", took, grace)
	}
	select {
	case how := <-hook.ended:
		if how != "cancelled" {
			t.Errorf("webhook call %s, want cancelled", how)
		}
	case <-time.After(time.Second):
		t.Fatal("webhook call still running a second after Close")
	}
	if err := live.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "late", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-hook.bodies:
		t.Errorf("webhook called after Close: %s", b)
	case <-time.After(200 * time.Millisecond):
	}
}
