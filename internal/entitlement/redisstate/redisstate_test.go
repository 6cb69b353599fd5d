package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/entitlement/redisstate"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func client(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, MaxRetries: 1, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// replica is one drmpipe instance: its own Redis client, revocation list
// and entitlement service.
type replica struct {
	revs *redisstate.Revocations
	svc  *entitlement.Service
}

func newReplica(t *testing.T, addr string, signer *entitlement.Signer, pc entitlement.PolicyConfig) *replica {
	t.Helper()
	rdb := client(t, addr)
	revs := redisstate.NewRevocations(context.Background(), rdb, redisstate.RevocationsOptions{ResyncInterval: 100 * time.Millisecond, OpTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = revs.Close() })
	v, err := entitlement.NewVerifier(entitlement.VerifierConfig{Issuer: "iss", Audience: "aud"}, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := entitlement.New(entitlement.Config{Policy: pc}, entitlement.Deps{
		Verifier: v, Revocations: revs, Devices: redisstate.NewDevices(rdb, ""), Replay: redisstate.NewReplay(rdb, ""),
	})
	return &replica{revs: revs, svc: svc}
}

func newSigner(t *testing.T) *entitlement.Signer {
	t.Helper()
	s, err := entitlement.NewSigner(entitlement.SignerConfig{Dir: t.TempDir(), Issuer: "iss", Audience: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func token(t *testing.T, s *entitlement.Signer, user, device, content string) string {
	t.Helper()
	tok, err := s.Sign(entitlement.Claims{Subject: user, DeviceID: device, ContentID: content})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func reason(err error) entitlement.Reason {
	var de *entitlement.DenyError
	if errors.As(err, &de) {
		return de.Reason
	}
	return 0
}

func TestRevocationReachesOtherReplicaWithinASecond(t *testing.T) {
	r := testtools.StartRedis(t)
	signer := newSigner(t)
	pc := entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1}}
	a := newReplica(t, r.Addr, signer, pc)
	b := newReplica(t, r.Addr, signer, pc)
	ctx := context.Background()

	var mu sync.Mutex
	var seenB []entitlement.Revocation
	notified := make(chan struct{}, 10)
	cancel := b.revs.Subscribe(func(rev entitlement.Revocation) {
		mu.Lock()
		seenB = append(seenB, rev)
		mu.Unlock()
		notified <- struct{}{}
	})
	defer cancel()

	tok := token(t, signer, "mallory", "dev-9", "movie")
	for _, rep := range []*replica{a, b} {
		if _, err := rep.svc.Authorize(ctx, entitlement.Request{Token: tok}); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
	}
	start := time.Now()
	if err := a.revs.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "admin@ops", Reason: "credential sharing"}); err != nil {
		t.Fatal(err)
	}
	// A applies at once.
	if got := reason(must2(a.svc.Authorize(ctx, entitlement.Request{Token: tok}))); got != entitlement.ReasonRevoked {
		t.Fatalf("replica A: reason %s", got)
	}
	// B within a second, via pub/sub (its resync also runs, every 100 ms,
	// so measure the notification, which the first path to apply fires).
	for {
		_, err := b.svc.Authorize(ctx, entitlement.Request{Token: tok})
		if reason(err) == entitlement.ReasonRevoked {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica B still grants after 1 s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revocation visible on replica B after %v", time.Since(start))
	select {
	case <-notified:
	case <-time.After(time.Second):
		t.Fatal("subscriber on B not notified")
	}
	// KID revocation reaches B's CheckKIDs too.
	if err := a.revs.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeKID, Value: "0123456789abcdef0123456789abcdef", By: "admin@ops"}); err != nil {
		t.Fatal(err)
	}
	<-notified
	kid, _ := drm.ParseKeyID("01234567-89ab-cdef-0123-456789abcdef")
	if reason(b.svc.CheckKIDs(ctx, kid)) != entitlement.ReasonRevoked {
		t.Fatal("KID revocation not on B")
	}
	mu.Lock()
	if len(seenB) != 2 || seenB[0].Value != "mallory" || seenB[0].By != "admin@ops" {
		t.Errorf("B saw %+v", seenB)
	}
	mu.Unlock()
	// The audit log keeps who, when, what, also when revoked twice.
	if err := b.revs.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "mallory", By: "second-admin"}); err != nil {
		t.Fatal(err)
	}
	list, err := a.revs.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("audit: %d entries, %v", len(list), err)
	}
	if list[0].Reason != "credential sharing" || list[2].By != "second-admin" || list[0].At.IsZero() || list[1].Kind != entitlement.RevokeKID {
		t.Errorf("audit %+v", list)
	}
	// A replica started later loads the state.
	c := newReplica(t, r.Addr, signer, pc)
	if reason(must2(c.svc.Authorize(ctx, entitlement.Request{Token: tok}))) != entitlement.ReasonRevoked {
		t.Error("new replica does not see the revocation")
	}
	if err := c.revs.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestRedisDown(t *testing.T) {
	r := testtools.StartRedis(t)
	signer := newSigner(t)
	pc := entitlement.PolicyConfig{
		Default: entitlement.ContentPolicy{MaxUses: 5},
		Content: map[string]entitlement.PolicyOverride{"limited": {MaxDevices: ptr(2)}},
	}
	a := newReplica(t, r.Addr, signer, pc)
	ctx := context.Background()
	if err := a.revs.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeDevice, Value: "stolen", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	stopped := time.Now()

	// Revocations: the last known state keeps serving; readiness reports it.
	deadline := time.Now().Add(3 * time.Second)
	for a.revs.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Ready still nil 3 s after Redis stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := reason(must2(a.svc.Authorize(ctx, entitlement.Request{Token: token(t, signer, "u", "stolen", "movie")}))); got != entitlement.ReasonRevoked {
		t.Errorf("revoked device with Redis down: reason %s", got)
	}
	if err := a.revs.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "x", By: "ops"}); !errors.Is(err, entitlement.ErrUnavailable) {
		t.Errorf("Revoke with Redis down: %v", err)
	}
	if _, err := a.revs.List(ctx); !errors.Is(err, entitlement.ErrUnavailable) {
		t.Errorf("List with Redis down: %v", err)
	}
	// Replay and device state: unavailable (retryable), never a grant.
	_, err := a.svc.Authorize(ctx, entitlement.Request{Token: token(t, signer, "u", "d", "movie")})
	if reason(err) != entitlement.ReasonUnavailable || !errors.Is(err, entitlement.ErrUnavailable) {
		t.Errorf("replay check with Redis down: %v", err)
	}
	_, err = a.svc.Authorize(ctx, entitlement.Request{Token: token(t, signer, "u", "d", "limited")})
	if reason(err) != entitlement.ReasonUnavailable {
		t.Errorf("device check with Redis down: %v", err)
	}
	// With short client timeouts an outage costs milliseconds per request,
	// not seconds (six Redis calls above).
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("Redis-down checks took %v", d)
	}
	done := make(chan struct{})
	go func() { _ = a.revs.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hangs with Redis down")
	}
}

func TestRedisComesBack(t *testing.T) {
	// A replica started while Redis is down is not ready, and catches up
	// once Redis is reachable.
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not installed: run make deps")
	}
	port := testtools.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	signer := newSigner(t)
	a := newReplica(t, addr, signer, entitlement.PolicyConfig{})
	if a.revs.Ready() == nil {
		t.Fatal("ready without Redis")
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	b := newReplica(t, addr, signer, entitlement.PolicyConfig{})
	deadline := time.Now().Add(5 * time.Second)
	for b.revs.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("B not ready: %v", b.revs.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.revs.Revoke(context.Background(), entitlement.Revocation{Kind: entitlement.RevokeToken, Value: "j1", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	for {
		revoked, _ := a.revs.IsRevoked(context.Background(), entitlement.RevokeToken, "j1")
		if revoked && a.revs.Ready() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A did not catch up: revoked=%v ready=%v", revoked, a.revs.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDevicesMatchMemory(t *testing.T) {
	r := testtools.StartRedis(t)
	rdb := client(t, r.Addr)
	red := redisstate.NewDevices(rdb, "test:")
	mem := entitlement.NewMemoryDevices()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.UnixMilli(1_700_000_000_000)
	const window = 10 * time.Second
	for i := 0; i < 400; i++ {
		now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
		user := fmt.Sprintf("u%d", rng.IntN(3))
		dev := fmt.Sprintf("d%d", rng.IntN(5))
		want, _ := mem.Admit(ctx, user, dev, now, window, 3)
		got, err := red.Admit(ctx, user, dev, now, window, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("step %d (%s/%s at %v): redis %v, memory %v", i, user, dev, now, got, want)
		}
	}
	// Sliding window with an explicit sequence.
	t0 := time.UnixMilli(2_000_000_000_000)
	steps := []struct {
		at     time.Duration
		dev    string
		admits bool
	}{{0, "a", true}, {time.Second, "b", true}, {2 * time.Second, "c", false}, {3 * time.Second, "a", true}, {11 * time.Second, "c", true}, {12 * time.Second, "d", false}, {13*time.Second + 1, "d", true}}
	for _, s := range steps {
		got, err := red.Admit(ctx, "seq", s.dev, t0.Add(s.at), window, 2)
		if err != nil || got != s.admits {
			t.Errorf("at %v device %s: %v %v, want %v", s.at, s.dev, got, err, s.admits)
		}
	}
	// The set expires with the window.
	ttl, err := rdb.PTTL(ctx, "test:devices:seq").Result()
	if err != nil || ttl <= 0 || ttl > window {
		t.Errorf("PTTL %v %v", ttl, err)
	}
}

func TestReplayRedis(t *testing.T) {
	r := testtools.StartRedis(t)
	rdb := client(t, r.Addr)
	rep := redisstate.NewReplay(rdb, "")
	ctx := context.Background()
	for i := int64(1); i <= 4; i++ {
		n, err := rep.Use(ctx, "iss\x00jti-1", time.Now(), time.Now(), 300*time.Millisecond)
		if err != nil || n != i {
			t.Fatalf("use %d: %d %v", i, n, err)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if n, err := rep.Use(ctx, "iss\x00jti-1", time.Now(), time.Now(), 300*time.Millisecond); err != nil || n != 1 {
		t.Errorf("after TTL: %d %v, want 1", n, err)
	}
	// Through the service, shared by two replicas: 3 uses in total.
	signer := newSigner(t)
	a := newReplica(t, r.Addr, signer, entitlement.PolicyConfig{})
	b := newReplica(t, r.Addr, signer, entitlement.PolicyConfig{})
	tok := token(t, signer, "u", "d", "m")
	for i, rep := range []*replica{a, b, a} {
		if _, err := rep.svc.Authorize(ctx, entitlement.Request{Token: tok}); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if got := reason(must2(b.svc.Authorize(ctx, entitlement.Request{Token: tok}))); got != entitlement.ReasonReplay {
		t.Errorf("4th use on another replica: reason %s", got)
	}
}

func ptr[T any](v T) *T { return &v }

func must2(_ entitlement.Decision, err error) error { return err }

// TestRestoreKeepsLocalStateWithoutNotifying: revocations restored from the
// durable audit log (at startup) are enforced, survive resyncs of a Redis
// that does not hold them (it lost its data), and notify no subscriber,
// also when Redis then holds the same revocation.
func TestRestoreKeepsLocalStateWithoutNotifying(t *testing.T) {
	r := testtools.StartRedis(t)
	signer := newSigner(t)
	pc := entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1}}
	a := newReplica(t, r.Addr, signer, pc)
	ctx := context.Background()
	var notified atomic.Int32
	cancel := a.revs.Subscribe(func(entitlement.Revocation) { notified.Add(1) })
	defer cancel()

	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	rev := entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "restored", By: "apikey:ops", At: at}
	if err := a.revs.Restore([]entitlement.Revocation{rev}); err != nil {
		t.Fatal(err)
	}
	_, err := a.svc.Authorize(ctx, entitlement.Request{Token: token(t, signer, "restored", "d1", "movie")})
	if reason(err) != entitlement.ReasonRevoked {
		t.Fatalf("restored user: %v, want revoked", err)
	}
	// A second replica records the same revocation in Redis (as a replica
	// restoring from the same log would have seen it): same instant, so no
	// news for a.
	b := newReplica(t, r.Addr, signer, pc)
	if err := b.revs.Revoke(ctx, rev); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // several resyncs (100 ms) and the publication
	if revoked, _ := a.revs.IsRevoked(ctx, entitlement.RevokeUser, "restored"); !revoked {
		t.Error("restored revocation lost after resyncs")
	}
	if n := notified.Load(); n != 0 {
		t.Errorf("restored revocation notified subscribers %d times", n)
	}
}

// TestRevokeWhileRedisDown (issue 16): with Redis down a revocation is
// still applied, and notified, on the replica that took it, and the error
// says it did not propagate; when Redis comes back, Reconnected fires so
// that the replicas re-read the durable log, and a revocation learned
// from it is notified once, never again by a later resync or by Redis.
func TestRevokeWhileRedisDown(t *testing.T) {
	r := testtools.StartRedis(t)
	signer := newSigner(t)
	pc := entitlement.PolicyConfig{Default: entitlement.ContentPolicy{MaxUses: -1}}
	a, b := newReplica(t, r.Addr, signer, pc), newReplica(t, r.Addr, signer, pc)
	ctx := context.Background()
	var notifiedA, notifiedB atomic.Int32
	defer a.revs.Subscribe(func(entitlement.Revocation) { notifiedA.Add(1) })()
	defer b.revs.Subscribe(func(entitlement.Revocation) { notifiedB.Add(1) })()

	r.Stop()
	rev := entitlement.Revocation{Kind: entitlement.RevokeUser, Value: "outage-user", By: "apikey:ops", At: time.Now()}
	err := a.revs.Revoke(ctx, rev)
	if !errors.Is(err, entitlement.ErrNotPropagated) || !errors.Is(err, entitlement.ErrUnavailable) {
		t.Fatalf("Revoke with Redis down: %v, want ErrNotPropagated and ErrUnavailable", err)
	}
	if revoked, _ := a.revs.IsRevoked(ctx, entitlement.RevokeUser, "outage-user"); !revoked {
		t.Error("revocation taken with Redis down not applied on the replica that took it")
	}
	if n := notifiedA.Load(); n != 1 {
		t.Errorf("replica that took the revocation notified %d times, want 1", n)
	}
	select {
	case <-b.revs.Reconnected():
		t.Fatal("Reconnected fired while Redis is down")
	default:
	}

	r.Start(t)
	select {
	case <-b.revs.Reconnected():
	case <-time.After(5 * time.Second):
		t.Fatal("Reconnected did not fire within 5s of Redis coming back")
	}
	// What the re-sync from the durable log hands b: new to b, known to a.
	for _, c := range []struct {
		name     string
		revs     *redisstate.Revocations
		want     int
		notified *atomic.Int32
	}{{"b", b.revs, 1, &notifiedB}, {"a", a.revs, 0, &notifiedA}, {"b again", b.revs, 0, &notifiedB}} {
		n, err := c.revs.Learn([]entitlement.Revocation{rev})
		if err != nil || n != c.want {
			t.Errorf("Learn on %s: %d %v, want %d new", c.name, n, err, c.want)
		}
	}
	time.Sleep(300 * time.Millisecond) // several resyncs (100 ms)
	if revoked, _ := b.revs.IsRevoked(ctx, entitlement.RevokeUser, "outage-user"); !revoked {
		t.Error("learned revocation lost after resyncs of a Redis that does not hold it")
	}
	if na, nb := notifiedA.Load(), notifiedB.Load(); na != 1 || nb != 1 {
		t.Errorf("notifications: a %d, b %d; want 1 each", na, nb)
	}
}
