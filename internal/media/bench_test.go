package media

import (
	"path/filepath"
	"testing"
)

// BenchmarkOpen opens inputs with 200,000 video samples (16x16 at 2000 fps
// for 100 s): the sample-table build must stay well under 100 ms.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	prog := filepath.Join(dir, "many.mp4")
	ffmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=16x16:rate=2000", "-t", "100",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "250", prog)
	frag := filepath.Join(dir, "many_frag.mp4")
	ffmpeg(b, "-i", prog, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", frag)
	for _, c := range []struct{ name, path string }{{"progressive", prog}, {"fragmented", frag}} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			b.ReportAllocs()
			for b.Loop() {
				f, err := Open(c.path)
				if err != nil {
					b.Fatal(err)
				}
				n = len(f.Tracks()[0].Samples)
				f.Close()
			}
			if n != 200000 {
				b.Fatalf("got %d samples, want 200000", n)
			}
			b.ReportMetric(float64(n), "samples/op")
		})
	}
}

// BenchmarkReadSamples reads every sample of the generated H.264+AAC input,
// one GOP-sized batch at a time, reusing the buffer.
func BenchmarkReadSamples(b *testing.B) {
	paths := generate(b, b.TempDir(), inputCases[:1])
	f, err := Open(paths[inputCases[0].name])
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var total int64
	for _, tr := range f.Tracks() {
		for _, s := range tr.Samples {
			total += int64(s.Size)
		}
	}
	b.SetBytes(total)
	var buf []byte
	for b.Loop() {
		for _, tr := range f.Tracks() {
			for i := 0; i < len(tr.Samples); i += 30 {
				buf, err = f.ReadSamples(buf, tr.Samples[i:min(i+30, len(tr.Samples))])
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
