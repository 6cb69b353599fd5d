package packager

import (
	"bytes"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/cenc"
)

// The fragment header must decode with an independent parser (mp4ff) to the
// same samples, and saio must point at the first senc entry (ISO/IEC
// 23001-7 §7.1: offset relative to moof with default-base-is-moof).
func TestFragmentHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		ivSize  int
		useSubs bool
	}{
		{"clear", 0, false},
		{"cbcs video", 0, true},
		{"cenc video", 8, true},
		{"cenc audio", 8, false},
		{"cbcs audio", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fi := &fragmentInfo{
				seq: 7, trackID: 1, baseDTS: 123456,
				durations: []uint32{512, 512, 512},
				sizes:     []uint32{100, 40, 3},
				ctos:      []int32{1024, -512, 0},
				syncs:     []bool{true, false, false},
			}
			if tc.name != "clear" {
				fi.encrypted = true
				fi.ivSize = tc.ivSize
				fi.useSubs = tc.useSubs
				for i := range fi.sizes {
					if tc.ivSize > 0 {
						fi.ivs = append(fi.ivs, []byte{1, 2, 3, 4, 5, 6, 7, byte(i)})
					}
					if tc.useSubs {
						fi.subs = append(fi.subs, []cenc.Subsample{{Clear: 3, Protected: fi.sizes[i] - 3}})
					}
				}
			}
			payload := bytes.Repeat([]byte{0xab}, 143)
			seg := append(appendFragmentHeader(nil, fi, len(payload)), payload...)
			f, err := mp4.DecodeFile(bytes.NewReader(seg))
			if err != nil {
				t.Fatal(err)
			}
			frag := f.Segments[0].Fragments[0]
			if got := frag.Moof.Mfhd.SequenceNumber; got != 7 {
				t.Errorf("sequence %d", got)
			}
			traf := frag.Moof.Traf
			if traf.Tfdt.BaseMediaDecodeTime() != 123456 {
				t.Errorf("tfdt %d", traf.Tfdt.BaseMediaDecodeTime())
			}
			trex := &mp4.TrexBox{TrackID: 1}
			fss, err := frag.GetFullSamples(trex)
			if err != nil {
				t.Fatal(err)
			}
			if len(fss) != 3 || fss[1].CompositionTimeOffset != -512 || fss[0].DecodeTime != 123456 || len(fss[2].Data) != 3 {
				t.Fatalf("samples decoded wrong: %+v", fss[1])
			}
			if !fss[0].IsSync() || fss[1].IsSync() {
				t.Error("sync flags wrong")
			}
			if !fi.encrypted {
				if traf.Saio != nil || traf.Senc != nil {
					t.Error("clear fragment has encryption boxes")
				}
				return
			}
			if tc.ivSize == 0 && !tc.useSubs {
				// cbcs full-sample: IV-less senc only, no saiz/saio.
				if traf.Saiz != nil || traf.Saio != nil || traf.Senc == nil {
					t.Fatalf("want senc only, got saiz=%v saio=%v senc=%v", traf.Saiz != nil, traf.Saio != nil, traf.Senc != nil)
				}
				return
			}
			moofStart := bytes.Index(seg, []byte("moof")) - 4
			sencPos := bytes.Index(seg, []byte("senc")) - 4
			if got := traf.Saio.Offset[0]; int(got) != sencPos+16-moofStart {
				t.Errorf("saio offset %d, want %d", got, sencPos+16-moofStart)
			}
			if _, parsed := traf.ContainsSencBox(); !parsed {
				if err := traf.ParseReadSenc(byte(tc.ivSize), uint64(moofStart)); err != nil {
					t.Fatal(err)
				}
			}
			senc := traf.Senc
			if int(senc.SampleCount) != 3 {
				t.Errorf("senc sample count %d", senc.SampleCount)
			}
			if tc.useSubs && senc.SubSamples[1][0].BytesOfProtectedData != 37 {
				t.Errorf("senc subsamples %+v", senc.SubSamples)
			}
			if tc.ivSize == 8 && !bytes.Equal(senc.IVs[2], []byte{1, 2, 3, 4, 5, 6, 7, 2}) {
				t.Errorf("senc IV %x", senc.IVs[2])
			}
		})
	}
}
