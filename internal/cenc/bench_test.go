package cenc

import "testing"

// benchSample is a 64 KiB video-like sample: four slices, each with a short
// clear header, as a 1080p picture with 4 slices would be mapped.
func benchSample() ([]byte, []Subsample) {
	sample := make([]byte, 64<<10)
	for i := range sample {
		sample[i] = byte(i * 31)
	}
	q := uint32(len(sample) / 4)
	subs := []Subsample{{40, q - 40}, {12, q - 12}, {12, q - 12}, {12, q - 12}}
	return sample, subs
}

func BenchmarkEncryptCBCSVideo(b *testing.B) {
	sample, subs := benchSample()
	e, err := NewEncryptor(CBCS, sp80038aKey, make([]byte, 16), true)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.EncryptSample(sample, subs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptCBCSAudio(b *testing.B) {
	sample := make([]byte, 371) // a typical 128 kb/s AAC frame
	e, err := NewEncryptor(CBCS, sp80038aKey, make([]byte, 16), false)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.EncryptSample(sample, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptCENC(b *testing.B) {
	sample, subs := benchSample()
	e, err := NewEncryptor(CENC, sp80038aKey, make([]byte, 8), true)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.EncryptSample(sample, subs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubsamples measures the map of the shared case samples
// (slice-header parsing included).
func BenchmarkSubsamples(b *testing.B) {
	for _, c := range protectorCases[:4] {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewNALProtector(CBCS, c.codec, c.lenSize, c.paramSets)
			if err != nil {
				b.Fatal(err)
			}
			var dst []Subsample
			b.SetBytes(int64(len(c.sample)))
			b.ReportAllocs()
			for b.Loop() {
				if dst, err = p.Subsamples(dst, c.sample); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
