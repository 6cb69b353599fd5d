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
	benchEncrypt(b, CBCS, 16, true, sample, subs)
}

func BenchmarkEncryptCBCSAudio(b *testing.B) {
	sample := make([]byte, 371) // a typical 128 kb/s AAC frame
	benchEncrypt(b, CBCS, 16, false, sample, nil)
}

func BenchmarkEncryptCENC(b *testing.B) {
	sample, subs := benchSample()
	benchEncrypt(b, CENC, 8, true, sample, subs)
}

// benchEncrypt measures EncryptSample of one sample under scheme with a zero
// IV of ivSize bytes.
func benchEncrypt(b *testing.B, scheme Scheme, ivSize int, video bool, sample []byte, subs []Subsample) {
	b.Helper()
	e, err := NewEncryptor(scheme, sp80038aKey, make([]byte, ivSize), video)
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
