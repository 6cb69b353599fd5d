//go:build unix

package packager_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestMain removes the clips testtools.MakeClip cached for the benchmarks.
func TestMain(m *testing.M) { os.Exit(testtools.RunCleaningClips(m)) }

// rotationBenchSeconds is the length of the benchmark input: 30 key periods
// of one 2 s segment each, per track.
const rotationBenchSeconds = 60

// BenchmarkRotation packages the same input without key rotation and with a
// key every segment (--key-period 2s, the worst case of issue 13's floor) in
// both signalings, so the cost of rotation can be read as a ratio without
// running scripts/bench.sh:
//
//	go test -run '^$' -bench Rotation -count 5 ./internal/packager/
//
// cpu-ns/op (user + system CPU time of one packaging run) is steadier than
// ns/op on a loaded machine. The input is a 60 s 1280x720 H.264 + AAC clip
// at 4 Mb/s: per-period costs weigh more here than on the 10 Mb/s 1080p
// input of the script. Every run writes a fresh output directory under
// b.TempDir(); on ext4 without a journal the removal of earlier rounds'
// outputs slows file creation for a minute (see docs/BENCHMARKS.md), so to
// measure drmpipe alone put TMPDIR on a tmpfs.
func BenchmarkRotation(b *testing.B) {
	in := testtools.MakeClip(b, testtools.ClipOptions{Seconds: rotationBenchSeconds, BFrames: 2, Audio: "aac", Bitrate: "4M"})
	st, err := os.Stat(in)
	if err != nil {
		b.Fatal(err)
	}
	periods := rotationBenchSeconds/2 + 1
	list := make([]keys.ContentKey, periods)
	for n := range list {
		list[n] = benchKey(b, n)
	}
	rotated, err := keys.NewPeriodStaticSource(map[keys.TrackType][]keys.ContentKey{keys.All: list})
	if err != nil {
		b.Fatal(err)
	}
	single, err := keys.NewPeriodStaticSource(map[keys.TrackType][]keys.ContentKey{keys.All: list[:1]})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		src       packager.KeySource
		period    time.Duration
		signaling packager.RotationSignaling
	}{
		{"none", single, 0, packager.PeriodSignaling},
		{"period", rotated, 2 * time.Second, packager.PeriodSignaling},
		{"inband", rotated, 2 * time.Second, packager.InbandSignaling},
	} {
		b.Run(c.name, func(b *testing.B) {
			tmp := b.TempDir()
			cfg := packager.Config{
				Inputs:            []string{in},
				SegmentDuration:   2 * time.Second,
				Scheme:            cenc.CBCS,
				Keys:              c.src,
				IV:                []byte("0123456789abcdef"),
				Systems:           []drm.System{drm.Widevine, drm.PlayReady, drm.FairPlay, drm.ClearKey},
				KeyPeriod:         c.period,
				RotationSignaling: c.signaling,
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			n := 0
			var cpu time.Duration
			for b.Loop() {
				// A fresh output directory each time, none removed
				// before this round ends: a removal would bill the next
				// runs for the inodes it frees (see above).
				n++
				cfg.OutputDir = filepath.Join(tmp, fmt.Sprint(n))
				before := cpuTime(b)
				if _, err := packager.Package(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime(b) - before
			}
			// CPU time (user + system) is steadier than wall time on a
			// loaded machine.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
		})
	}
}

// cpuTime is the user + system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKey is a benchmark-only content key for key period n.
func benchKey(b *testing.B, n int) keys.ContentKey {
	b.Helper()
	kid, err := drm.ParseKeyID(fmt.Sprintf("62656e63686d61726b5f6b6579%06x", n))
	if err != nil {
		b.Fatal(err)
	}
	return keys.ContentKey{KID: kid, Key: []byte(fmt.Sprintf("bench-key-%06d", n))}
}
