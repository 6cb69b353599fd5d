package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// reportLatency adds p50 and p99 of the per-call durations as metrics.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkGetOrCreateExisting: the common case, the slot already has its
// key (one indexed read and one AES-GCM unwrap).
func BenchmarkGetOrCreateExisting(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir()).store
	const slots = 64
	for i := range slots {
		if _, err := s.GetOrCreate(ctx, fmt.Sprintf("bench-%d", i), keys.HD, 0); err != nil {
			b.Fatal(err)
		}
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, err := s.GetOrCreate(ctx, fmt.Sprintf("bench-%d", i%slots), keys.HD, 0); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportLatency(b, d)
}

// BenchmarkGetOrCreateNew: every call creates a key (read miss, wrap,
// durable insert with synchronous=FULL).
func BenchmarkGetOrCreateNew(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir()).store
	d := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, err := s.GetOrCreate(ctx, fmt.Sprintf("new-%d", i), keys.HD, 0); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportLatency(b, d)
}

// BenchmarkGetOrCreateParallel: many goroutines on a mix of existing and
// new slots.
func BenchmarkGetOrCreateParallel(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir()).store
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetOrCreate(ctx, fmt.Sprintf("par-%d", i%256), keys.TrackType(1+i%6), 0); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
