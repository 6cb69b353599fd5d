package packager

import (
	"bytes"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
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

// Under in-band key rotation every encrypted fragment carries one seig
// sample group (sbgp + sgpd, ISO/IEC 23001-7 §6) with the period's KID,
// pattern and IV, and the pssh boxes in the moof after the traf; mp4ff
// decodes both and trun's data_offset still points at the mdat payload.
func TestFragmentHeaderSeig(t *testing.T) {
	kid := drm.KeyID{0xa1, 15: 0xb2}
	cbcs := &trackProtection{scheme: cenc.CBCS, kid: kid, pattern: cenc.Pattern{Crypt: 1, Skip: 9}, constantIV: bytes.Repeat([]byte{7}, 16)}
	cencP := &trackProtection{scheme: cenc.CENC, kid: kid, ivSize: 8}
	pssh := drm.CommonPSSH([]drm.KeyID{kid}).Marshal()
	for _, p := range []*trackProtection{cbcs, cencP} {
		t.Run(p.scheme.String(), func(t *testing.T) {
			fi := &fragmentInfo{
				seq: 3, trackID: 1, durations: []uint32{512, 512}, sizes: []uint32{20, 30}, ctos: []int32{0, 0}, syncs: []bool{true, false},
				encrypted: true, ivSize: p.ivSize, useSubs: true, seig: p, psshs: [][]byte{pssh},
				subs: [][]cenc.Subsample{{{Clear: 4, Protected: 16}}, {{Clear: 14, Protected: 16}}},
			}
			if p.ivSize > 0 {
				fi.ivs = [][]byte{bytes.Repeat([]byte{1}, 8), bytes.Repeat([]byte{2}, 8)}
			}
			payload := bytes.Repeat([]byte{0xcd}, 50)
			seg := append(appendFragmentHeader(nil, fi, len(payload)), payload...)
			f, err := mp4.DecodeFile(bytes.NewReader(seg))
			if err != nil {
				t.Fatal(err)
			}
			moof := f.Segments[0].Fragments[0].Moof
			traf := moof.Traf
			if traf.Sbgp == nil || traf.Sbgp.GroupingType != "seig" || len(traf.Sbgp.SampleCounts) != 1 || traf.Sbgp.SampleCounts[0] != 2 || traf.Sbgp.GroupDescriptionIndices[0] != 0x10001 {
				t.Fatalf("sbgp %+v", traf.Sbgp)
			}
			if traf.Sgpd == nil || traf.Sgpd.GroupingType != "seig" || len(traf.Sgpd.SampleGroupEntries) != 1 {
				t.Fatalf("sgpd %+v", traf.Sgpd)
			}
			e, ok := traf.Sgpd.SampleGroupEntries[0].(*mp4.SeigSampleGroupEntry)
			if !ok {
				t.Fatalf("sgpd entry %T", traf.Sgpd.SampleGroupEntries[0])
			}
			if !bytes.Equal(e.KID, kid[:]) || e.IsProtected != 1 || e.PerSampleIVSize != byte(p.ivSize) ||
				e.CryptByteBlock != p.pattern.Crypt || e.SkipByteBlock != p.pattern.Skip || !bytes.Equal(e.ConstantIV, p.constantIV) {
				t.Errorf("seig entry %+v", e)
			}
			if len(moof.Psshs) != 1 {
				t.Fatalf("%d pssh boxes in moof", len(moof.Psshs))
			}
			fss, err := f.Segments[0].Fragments[0].GetFullSamples(&mp4.TrexBox{TrackID: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(fss) != 2 || !bytes.Equal(fss[1].Data, payload[20:]) {
				t.Errorf("samples do not come from the mdat payload")
			}
		})
	}
}
