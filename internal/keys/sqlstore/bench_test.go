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
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// timeEach runs call(i) once per b.Loop iteration i, failing on an error,
// and reports the latency quantiles of the calls.
func timeEach(b *testing.B, call func(i int) error) {
	d := make([]time.Duration, 0, 1024)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if err := call(i); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportLatency(b, d)
}

// BenchmarkGetOrCreate measures get-or-create latency per backend:
//   - existing: the common case, the slot already has its key (one indexed
//     read and one AES-GCM unwrap);
//   - new: every call creates a key (read miss, wrap, durable insert; SQLite
//     with synchronous=FULL, the test PostgreSQL with fsync=off);
//   - parallel: 4×GOMAXPROCS goroutines on a mix of existing and new slots.
func BenchmarkGetOrCreate(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			b.Run("existing", func(b *testing.B) {
				ctx := context.Background()
				s := open(b, be).store
				const slots = 64
				for i := range slots {
					if _, err := s.GetOrCreate(ctx, fmt.Sprintf("bench-%d", i), keys.HD, 0); err != nil {
						b.Fatal(err)
					}
				}
				timeEach(b, func(i int) error {
					_, err := s.GetOrCreate(ctx, fmt.Sprintf("bench-%d", i%slots), keys.HD, 0)
					return err
				})
			})
			b.Run("new", func(b *testing.B) {
				ctx := context.Background()
				s := open(b, be).store
				timeEach(b, func(i int) error {
					_, err := s.GetOrCreate(ctx, fmt.Sprintf("new-%d", i), keys.HD, 0)
					return err
				})
			})
			b.Run("parallel", func(b *testing.B) {
				ctx := context.Background()
				s := open(b, be).store
				b.SetParallelism(4)
				b.ResetTimer() // not the database set-up
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
			})
		})
	}
}
