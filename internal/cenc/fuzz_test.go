package cenc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// mapFromSeed turns fuzz bytes into a subsample map covering n bytes
// (empty seed: full-sample encryption).
func mapFromSeed(seed []byte, n int) []Subsample {
	if len(seed) == 0 {
		return nil
	}
	var subs []Subsample
	for i := 0; n > 0; i += 2 {
		c := min(int(seed[i%len(seed)]), n)
		p := min(int(seed[(i+1)%len(seed)])*3, n-c)
		if i/2 > 4*len(seed) { // the seed may say 0 forever
			p = n - c
		}
		subs = append(subs, Subsample{uint16(c), uint32(p)})
		n -= c + p
	}
	return subs
}

// FuzzEncryptDecrypt: decrypt(encrypt(x)) == x for both schemes and
// patterns, clear bytes never change, and the output equals mp4ff's
// independent implementation.
func FuzzEncryptDecrypt(f *testing.F) {
	f.Add([]byte("a short audio frame"), []byte{}, uint8(0), []byte("0123456789abcdef"))
	f.Add(bytes.Repeat([]byte{0xab}, 1000), []byte{5, 60, 17, 1}, uint8(1), []byte("fedcba9876543210"))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 200), []byte{0, 200}, uint8(2), []byte("0000000000000000"))
	f.Add(h264TwoSlices, []byte{10, 2, 11, 38}, uint8(3), []byte("keykeykeykeykey!"))
	f.Fuzz(func(t *testing.T, data, mapSeed []byte, mode uint8, key []byte) {
		if len(key) < 16 {
			return
		}
		key = key[:16]
		scheme := CBCS
		if mode&1 == 1 {
			scheme = CENC
		}
		video := mode&2 == 2
		iv := []byte("constant-iv-16b!")
		if scheme == CENC {
			iv = []byte{0, 1, 2, 3, 4, 5, 6, mode}
		}
		subs := mapFromSeed(mapSeed, len(data))
		e, err := NewEncryptor(scheme, key, iv, video)
		if err != nil {
			t.Fatal(err)
		}
		plain := bytes.Clone(data)
		buf := bytes.Clone(data)
		sampleIV, err := e.EncryptSample(buf, subs)
		if err != nil {
			t.Fatalf("map %v for %d bytes: %v", subs, len(data), err)
		}
		pos := 0
		for _, s := range subs {
			if !bytes.Equal(buf[pos:pos+int(s.Clear)], plain[pos:pos+int(s.Clear)]) {
				t.Fatal("clear bytes changed")
			}
			pos += int(s.Clear) + int(s.Protected)
		}
		var ssp []mp4.SubSamplePattern
		for _, s := range subs {
			ssp = append(ssp, mp4.SubSamplePattern{BytesOfClearData: s.Clear, BytesOfProtectedData: s.Protected})
		}
		ref := bytes.Clone(plain)
		if scheme == CENC {
			err = mp4.CryptSampleCenc(ref, key, append(bytes.Clone(iv), make([]byte, 8)...), ssp)
		} else {
			p := e.Pattern()
			err = mp4.EncryptSampleCbcs(ref, key, iv, ssp, &mp4.TencBox{DefaultCryptByteBlock: p.Crypt, DefaultSkipByteBlock: p.Skip})
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, ref) {
			t.Fatal("differs from mp4ff")
		}
		d, err := NewDecryptor(scheme, key, e.Pattern())
		if err != nil {
			t.Fatal(err)
		}
		div := sampleIV
		if scheme == CBCS {
			div = iv
		}
		if err := d.DecryptSample(buf, div, subs); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, plain) {
			t.Fatal("round trip failed")
		}
	})
}

// FuzzSubsamples: on arbitrary bytes Subsamples never panics, errors wrap
// ErrBadSample, and a returned map covers the sample exactly with the
// scheme's rules (non-final entries protect something, cenc protects whole
// blocks).
func FuzzSubsamples(f *testing.F) {
	for i, c := range protectorCases {
		if len(c.sample) < 4096 { // big seeds make minimization crawl
			f.Add(c.sample, uint8(i))
		}
	}
	for i, c := range badSamples {
		f.Add(c.sample, uint8(i))
	}
	type setup struct {
		codec Codec
		ps    [][]byte
	}
	setups := []setup{
		{H264, [][]byte{h264SPS, h264PPS}},
		{HEVC, [][]byte{hevcVPS, hevcSPS, hevcPPS}},
		{H264, nil},
		{HEVC, nil},
	}
	f.Fuzz(func(t *testing.T, sample []byte, sel uint8) {
		s := setups[int(sel)%len(setups)]
		scheme := CBCS
		if sel&4 != 0 {
			scheme = CENC
		}
		lenSize := []int{4, 2, 1, 4}[(sel>>3)&3]
		p, err := NewNALProtector(scheme, s.codec, lenSize, s.ps)
		if err != nil {
			t.Fatal(err)
		}
		subs, ok := fuzzSubsamples(t, p, sample)
		if !ok {
			return
		}
		for i, ss := range subs {
			if ss.Protected == 0 && i != len(subs)-1 && ss.Clear != 0xffff {
				t.Fatalf("entry %d of %v protects nothing", i, subs)
			}
			if scheme == CENC && ss.Protected%16 != 0 {
				t.Fatalf("cenc entry %d of %v not block aligned", i, subs)
			}
		}
		// The map drives the cipher without error.
		e, _ := NewEncryptor(scheme, sp80038aKey, make([]byte, 16)[:map[Scheme]int{CBCS: 16, CENC: 8}[scheme]], true)
		if _, err := e.EncryptSample(bytes.Clone(sample), subs); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzSubsamples maps a fuzzed sample with p. A rejected sample must fail
// with ErrBadSample (ok is false); an accepted one must map to subsamples
// that cover exactly the sample.
func fuzzSubsamples(t *testing.T, p Protector, sample []byte) (subs []Subsample, ok bool) {
	t.Helper()
	subs, err := p.Subsamples(nil, sample)
	if err != nil {
		if !errors.Is(err, ErrBadSample) {
			t.Fatalf("error does not wrap ErrBadSample: %v", err)
		}
		return nil, false
	}
	if err := checkSubsamples(subs, len(sample)); err != nil {
		t.Fatal(err)
	}
	return subs, true
}
