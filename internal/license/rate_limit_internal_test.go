package license

import (
	"fmt"
	"testing"
	"time"
)

// TestBucketsBounded: the table never tracks more than max keys, and the
// heap indexes every tracked bucket exactly once.
func TestBucketsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBuckets(rate{perSecond: 10, burst: 5}, 50, func() time.Time { return now })
	for i := 0; i < 5000; i++ {
		now = now.Add(time.Millisecond)
		b.allow(fmt.Sprint(i % 700))
		if len(b.m) > 50 || len(b.order) != len(b.m) {
			t.Fatalf("after %d requests: %d tracked, %d in the heap (max 50)", i+1, len(b.m), len(b.order))
		}
	}
	for i, k := range b.order {
		if k.index != i || b.m[k.key] != k {
			t.Fatalf("heap entry %d (%s) out of step with the table", i, k.key)
		}
	}
}
