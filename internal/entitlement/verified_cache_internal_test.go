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
