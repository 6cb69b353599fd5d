package entitlement

import (
	"testing"
	"time"
)

// TestVerifiedCacheFullUntilSoonestExpiry: a full cache stores nothing new
// while its earliest entry is alive, and makes room once it has expired.
func TestVerifiedCacheFullUntilSoonestExpiry(t *testing.T) {
	c := newVerifiedCache(2)
	t0 := time.Unix(1_700_000_000, 0)
	a, b, d := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c.put(a, &Claims{Subject: "a"}, t0.Add(10*time.Second), t0)
	c.put(b, &Claims{Subject: "b"}, t0.Add(20*time.Second), t0)
	c.put(d, &Claims{Subject: "d"}, t0.Add(30*time.Second), t0.Add(5*time.Second))
	if _, ok := c.get(d, t0.Add(5*time.Second)); ok || c.len() != 2 {
		t.Fatalf("full cache took a new entry while every entry was alive (len %d)", c.len())
	}
	c.put(d, &Claims{Subject: "d"}, t0.Add(30*time.Second), t0.Add(15*time.Second))
	if _, ok := c.get(d, t0.Add(15*time.Second)); !ok {
		t.Fatal("expired entry not dropped to make room")
	}
	if _, ok := c.get(a, t0.Add(15*time.Second)); ok {
		t.Fatal("expired entry served")
	}
	if _, ok := c.get(b, t0.Add(15*time.Second)); !ok {
		t.Fatal("live entry evicted")
	}
}

// TestVerifiedCacheDropsExpiredBeforeFull: expired entries go within a
// sweep interval even while the cache is far from full, so its memory
// follows the live tokens (a stream of distinct short-lived tokens would
// otherwise fill it with dead ones first).
func TestVerifiedCacheDropsExpiredBeforeFull(t *testing.T) {
	c := newVerifiedCache(1000)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 100 {
		c.put([32]byte{byte(i), 1}, &Claims{Subject: "s"}, t0.Add(10*time.Second), t0)
	}
	later := t0.Add(10*time.Second + sweepInterval)
	c.put([32]byte{0, 2}, &Claims{Subject: "s"}, later.Add(10*time.Second), later)
	if n := c.len(); n != 1 {
		t.Fatalf("%d entries after the first 100 expired, want 1 (only the live one)", n)
	}
}
