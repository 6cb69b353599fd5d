package cenc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// NIST SP 800-38A Appendix F: AES-128 key and the four plaintext blocks used
// by all its examples.
var (
	sp80038aKey   = unhex("2b7e151628aed2a6abf7158809cf4f3c")
	sp80038aPlain = unhex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
		30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`)
)

// F.2.1 CBC-AES128.Encrypt: cbcs 0:0 full-sample encryption with the
// constant IV is plain CBC over the whole blocks.
func TestCBCSFullSampleSP80038A(t *testing.T) {
	iv := unhex("000102030405060708090a0b0c0d0e0f")
	want := unhex(`7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
		73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7`)
	e, err := NewEncryptor(CBCS, sp80038aKey, iv, false)
	if err != nil {
		t.Fatal(err)
	}
	// A 5-byte tail: a partial block stays clear (ISO/IEC 23001-7 §10.4).
	tail := []byte{1, 2, 3, 4, 5}
	buf := concat(sp80038aPlain, tail)
	gotIV, err := e.EncryptSample(buf, nil)
	if err != nil || gotIV != nil {
		t.Fatalf("iv %x, err %v", gotIV, err)
	}
	if !bytes.Equal(buf, concat(want, tail)) {
		t.Fatalf("got %x\nwant %x", buf, concat(want, tail))
	}
	// Every sample restarts from the constant IV.
	buf2 := bytes.Clone(sp80038aPlain)
	if _, err := e.EncryptSample(buf2, []Subsample{{0, 64}}); err != nil || !bytes.Equal(buf2, want) {
		t.Fatalf("second sample: %x, %v", buf2, err)
	}
	d, err := NewDecryptor(CBCS, sp80038aKey, Pattern{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.DecryptSample(buf, iv, nil); err != nil || !bytes.Equal(buf, concat(sp80038aPlain, tail)) {
		t.Fatalf("decrypt: %x, %v", buf, err)
	}
}

// F.5.2 CTR-AES128.Decrypt, through the 16-byte IV form of DecryptSample.
func TestCENCDecryptSP80038A(t *testing.T) {
	counter := unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
	ct := unhex(`874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
		5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee`)
	d, err := NewDecryptor(CENC, sp80038aKey, Pattern{})
	if err != nil {
		t.Fatal(err)
	}
	// Split into subsamples: the keystream runs on across them (§10.1).
	subs := []Subsample{{0, 20}, {0, 44}}
	if err := d.DecryptSample(ct, counter, subs); err != nil || !bytes.Equal(ct, sp80038aPlain) {
		t.Fatalf("got %x, %v", ct, err)
	}
}

// The ISO/IEC 23001-7 pattern rule (3rd edition text as quoted in
// shaka-packager issue #78; Shaka Packager's aes_pattern_cryptor.cc walks it
// the same way) worked out for 1:9: a 176-byte protected range has blocks
// [0,16) and [160,176) encrypted, chained; an incomplete crypt block stays
// clear.
func TestCBCSPatternBlockMap(t *testing.T) {
	iv := unhex("000102030405060708090a0b0c0d0e0f")
	cases := []struct {
		n    int
		want [][2]int // encrypted [start, end) ranges
	}{
		{15, nil},
		{16, [][2]int{{0, 16}}},
		{100, [][2]int{{0, 16}}},
		{170, [][2]int{{0, 16}}},
		{176, [][2]int{{0, 16}, {160, 176}}},
		{200, [][2]int{{0, 16}, {160, 176}}},
		{500, [][2]int{{0, 16}, {160, 176}, {320, 336}, {480, 496}}},
	}
	block, _ := aes.NewCipher(sp80038aKey)
	for _, c := range cases {
		plain := make([]byte, c.n)
		for i := range plain {
			plain[i] = byte(i*7 + 1)
		}
		// Independent reference: CBC over the concatenated crypt blocks.
		var chained []byte
		for _, r := range c.want {
			chained = append(chained, plain[r[0]:r[1]]...)
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(chained, chained)
		want := bytes.Clone(plain)
		off := 0
		for _, r := range c.want {
			copy(want[r[0]:r[1]], chained[off:off+16])
			off += 16
		}
		e, _ := NewEncryptor(CBCS, sp80038aKey, iv, true)
		// 7 clear bytes in front: the range is located by the map.
		buf := concat([]byte{9, 9, 9, 9, 9, 9, 9}, plain)
		if _, err := e.EncryptSample(buf, []Subsample{{7, uint32(c.n)}}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[7:], want) || !bytes.Equal(buf[:7], []byte{9, 9, 9, 9, 9, 9, 9}) {
			t.Errorf("n=%d: wrong block map", c.n)
		}
	}
}

// Known-answer tests against mp4ff's independent implementation
// (mp4.CryptSampleCenc, mp4.EncryptSampleCbcs) on random data and maps.
func TestAgainstMp4ff(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 16)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	iv16 := unhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
	iv8 := unhex("fffffffffffffffe") // crosses the 64-bit wrap
	for _, scheme := range []Scheme{CENC, CBCS} {
		for _, video := range []bool{true, false} {
			iv := iv16
			if scheme == CENC {
				iv = iv8
			}
			e, err := NewEncryptor(scheme, key, iv, video)
			if err != nil {
				t.Fatal(err)
			}
			refIV := bytes.Clone(iv)
			for n := 0; n < 300; n++ {
				sample := make([]byte, rng.IntN(3000))
				for i := range sample {
					sample[i] = byte(rng.Uint32())
				}
				var subs []Subsample
				if video {
					subs = randomMap(rng, len(sample))
				}
				want := bytes.Clone(sample)
				var ssp []mp4.SubSamplePattern
				for _, s := range subs {
					ssp = append(ssp, mp4.SubSamplePattern{BytesOfClearData: s.Clear, BytesOfProtectedData: s.Protected})
				}
				if scheme == CENC {
					if err := mp4.CryptSampleCenc(want, key, append(bytes.Clone(refIV), make([]byte, 8)...), ssp); err != nil {
						t.Fatal(err)
					}
				} else {
					tenc := &mp4.TencBox{DefaultCryptByteBlock: e.Pattern().Crypt, DefaultSkipByteBlock: e.Pattern().Skip}
					if err := mp4.EncryptSampleCbcs(want, key, iv, ssp, tenc); err != nil {
						t.Fatal(err)
					}
				}
				gotIV, err := e.EncryptSample(sample, subs)
				if err != nil {
					t.Fatal(err)
				}
				if scheme == CENC && !bytes.Equal(gotIV, refIV) {
					t.Fatalf("sample %d: IV %x, want %x", n, gotIV, refIV)
				}
				if !bytes.Equal(sample, want) {
					t.Fatalf("%v video=%v sample %d (%d bytes, %v): differs from mp4ff", scheme, video, n, len(sample), subs)
				}
				incr(refIV)
			}
		}
	}
}

func incr(iv []byte) {
	for i := len(iv) - 1; i >= 0; i-- {
		iv[i]++
		if iv[i] != 0 {
			return
		}
	}
}

// randomMap splits n bytes into a random subsample map.
func randomMap(rng *rand.Rand, n int) []Subsample {
	var subs []Subsample
	for n > 0 {
		c := min(rng.IntN(60), n)
		p := min(rng.IntN(400), n-c)
		subs = append(subs, Subsample{uint16(c), uint32(p)})
		n -= c + p
	}
	return subs
}

func TestCENCIVIncrement(t *testing.T) {
	e, err := NewEncryptor(CENC, sp80038aKey, unhex("00000000fffffffe"), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00000000fffffffe", "00000000ffffffff", "0000000100000000"}
	for i, w := range want {
		iv, err := e.EncryptSample(make([]byte, 10), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(iv, unhex(w)) {
			t.Fatalf("sample %d: IV %x, want %s", i, iv, w)
		}
		iv[0] = 0xee // a copy: must not change the encryptor's state
	}
	e, _ = NewEncryptor(CENC, sp80038aKey, unhex("ffffffffffffffff"), false)
	e.EncryptSample(nil, nil)
	if iv, _ := e.EncryptSample(nil, nil); !bytes.Equal(iv, make([]byte, 8)) {
		t.Fatalf("after wrap: %x", iv)
	}
}

func TestEncryptorAccessors(t *testing.T) {
	iv16, iv8 := make([]byte, 16), make([]byte, 8)
	cases := []struct {
		scheme  Scheme
		iv      []byte
		video   bool
		pattern Pattern
		ivSize  int
	}{
		{CBCS, iv16, true, Pattern{1, 9}, 0},
		{CBCS, iv16, false, Pattern{}, 0},
		{CENC, iv8, true, Pattern{}, 8},
		{CENC, iv8, false, Pattern{}, 8},
	}
	for _, c := range cases {
		e, err := NewEncryptor(c.scheme, sp80038aKey, c.iv, c.video)
		if err != nil {
			t.Fatal(err)
		}
		if e.Scheme() != c.scheme || e.Pattern() != c.pattern || e.PerSampleIVSize() != c.ivSize {
			t.Errorf("%v video=%v: %v %v %d", c.scheme, c.video, e.Scheme(), e.Pattern(), e.PerSampleIVSize())
		}
	}
}

func TestEncryptorErrors(t *testing.T) {
	cases := []struct {
		name   string
		scheme Scheme
		key    []byte
		iv     []byte
		want   error
	}{
		{"short key", CBCS, make([]byte, 15), make([]byte, 16), ErrKeySize},
		{"cbcs 8-byte iv", CBCS, sp80038aKey, make([]byte, 8), ErrIVSize},
		{"cenc 16-byte iv", CENC, sp80038aKey, make([]byte, 16), ErrIVSize},
		{"scheme", Scheme(0), sp80038aKey, make([]byte, 16), ErrUnknownScheme},
	}
	for _, c := range cases {
		if _, err := NewEncryptor(c.scheme, c.key, c.iv, true); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	for _, scheme := range []Scheme{CBCS, CENC} {
		iv := make([]byte, 16)
		if scheme == CENC {
			iv = iv[:8]
		}
		e, _ := NewEncryptor(scheme, sp80038aKey, iv, true)
		sample := bytes.Repeat([]byte{7}, 100)
		if _, err := e.EncryptSample(sample, []Subsample{{10, 80}}); !errors.Is(err, ErrSubsamples) {
			t.Errorf("%v short map: %v", scheme, err)
		}
		if _, err := e.EncryptSample(sample, []Subsample{{10, 80}, {0, 11}}); !errors.Is(err, ErrSubsamples) {
			t.Errorf("%v long map: %v", scheme, err)
		}
		if !bytes.Equal(sample, bytes.Repeat([]byte{7}, 100)) {
			t.Errorf("%v: sample changed on error", scheme)
		}
		// A refused sample does not consume an IV.
		if scheme == CENC {
			if iv, _ := e.EncryptSample(sample, nil); !bytes.Equal(iv, make([]byte, 8)) {
				t.Errorf("IV advanced on error: %x", iv)
			}
		}
	}
}

func TestDecryptorErrors(t *testing.T) {
	if _, err := NewDecryptor(CENC, sp80038aKey, Pattern{1, 9}); !errors.Is(err, ErrPattern) {
		t.Errorf("cens pattern: %v", err)
	}
	if _, err := NewDecryptor(CBCS, sp80038aKey, Pattern{0, 9}); !errors.Is(err, ErrPattern) {
		t.Errorf("0:9: %v", err)
	}
	if _, err := NewDecryptor(CBCS, sp80038aKey, Pattern{16, 0}); !errors.Is(err, ErrPattern) {
		t.Errorf("16:0: %v", err)
	}
	if _, err := NewDecryptor(CBCS, nil, Pattern{}); !errors.Is(err, ErrKeySize) {
		t.Errorf("key: %v", err)
	}
	if _, err := NewDecryptor(Scheme(5), sp80038aKey, Pattern{}); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("scheme: %v", err)
	}
	d, _ := NewDecryptor(CBCS, sp80038aKey, Pattern{1, 9})
	if err := d.DecryptSample(make([]byte, 32), make([]byte, 8), nil); !errors.Is(err, ErrIVSize) {
		t.Errorf("cbcs iv: %v", err)
	}
	if err := d.DecryptSample(make([]byte, 32), make([]byte, 16), []Subsample{{1, 1}}); !errors.Is(err, ErrSubsamples) {
		t.Errorf("map: %v", err)
	}
	d, _ = NewDecryptor(CENC, sp80038aKey, Pattern{})
	if err := d.DecryptSample(make([]byte, 32), make([]byte, 12), nil); !errors.Is(err, ErrIVSize) {
		t.Errorf("cenc iv: %v", err)
	}
}

// The hot path must not allocate for cbcs; cenc allocates the returned IV
// copy and the CTR stream only.
func TestEncryptSampleAllocs(t *testing.T) {
	sample := make([]byte, 50000)
	subs := []Subsample{{100, 20000}, {50, 29850}}
	e, _ := NewEncryptor(CBCS, sp80038aKey, make([]byte, 16), true)
	if n := testing.AllocsPerRun(50, func() { e.EncryptSample(sample, subs) }); n != 0 {
		t.Errorf("cbcs: %v allocations per sample", n)
	}
	e, _ = NewEncryptor(CENC, sp80038aKey, make([]byte, 8), true)
	if n := testing.AllocsPerRun(50, func() { e.EncryptSample(sample, subs) }); n > 2 {
		t.Errorf("cenc: %v allocations per sample", n)
	}
}
