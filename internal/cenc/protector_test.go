package cenc

import (
	"errors"
	"slices"
	"testing"
)

func TestSubsamples(t *testing.T) {
	for _, c := range protectorCases {
		for _, scheme := range []Scheme{CBCS, CENC} {
			t.Run(c.name+"/"+scheme.String(), func(t *testing.T) {
				p, err := NewNALProtector(scheme, c.codec, c.lenSize, c.paramSets)
				if err != nil {
					t.Fatal(err)
				}
				want := c.cbcs
				if scheme == CENC {
					want = c.cenc
				}
				// Reuse a dirty buffer: the map must start from dst[:0].
				dst := []Subsample{{1, 1}, {2, 2}, {3, 3}, {4, 4}}
				got, err := p.Subsamples(dst, c.sample)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				if err := checkSubsamples(got, len(c.sample)); err != nil {
					t.Fatal(err)
				}
				// Same answer the second time (parameter-set caches).
				again, err := p.Subsamples(nil, c.sample)
				if err != nil || !slices.Equal(again, want) {
					t.Fatalf("second call: %v, %v", again, err)
				}
			})
		}
	}
}

func TestSubsamplesBadSample(t *testing.T) {
	for _, c := range badSamples {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewNALProtector(CBCS, c.codec, 4, c.paramSets)
			if err != nil {
				t.Fatal(err)
			}
			subs, err := p.Subsamples(nil, c.sample)
			if !errors.Is(err, ErrBadSample) {
				t.Fatalf("got %v, %v; want ErrBadSample", subs, err)
			}
			t.Log(err)
		})
	}
}

func TestNewNALProtectorErrors(t *testing.T) {
	cases := []struct {
		name    string
		scheme  Scheme
		codec   Codec
		lenSize int
		ps      [][]byte
		want    error
	}{
		{"scheme", Scheme(9), H264, 4, nil, ErrUnknownScheme},
		{"codec", CBCS, Codec(7), 4, nil, ErrUnknownCodec},
		{"length size", CBCS, H264, 3, nil, ErrBadSample},
		{"bad SPS", CBCS, H264, 4, [][]byte{{0x67}}, ErrParameterSet},
		{"bad hevc SPS", CENC, HEVC, 4, [][]byte{{0x42, 0x01}}, ErrParameterSet},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewNALProtector(c.scheme, c.codec, c.lenSize, c.ps); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// An SPS/PPS arriving in-band replaces the one from avcC for later samples.
func TestSubsamplesInBandReplacesParameterSets(t *testing.T) {
	p, err := NewNALProtector(CBCS, H264, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Subsamples(nil, h264TwoSlices); !errors.Is(err, ErrBadSample) {
		t.Fatalf("slice before any PPS: %v", err)
	}
	if _, err := p.Subsamples(nil, concat(nal(h264SPS), nal(h264PPS))); err != nil {
		t.Fatal(err)
	}
	got, err := p.Subsamples(nil, h264TwoSlices)
	if err != nil || !slices.Equal(got, protectorCases[0].cbcs) {
		t.Fatalf("after in-band SPS/PPS: %v, %v", got, err)
	}
}
