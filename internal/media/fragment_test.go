package media

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/mp4"
)

// TestImplicitFragmentOffsets builds a fragment that ffmpeg never writes:
// one moof with two trafs and no base-data-offset nor default-base-is-moof,
// the first traf with two truns (the second without data_offset). Per
// ISO/IEC 14496-12 §8.8.7.1 and §8.8.8.1 the first traf's data starts at
// moof + data_offset, its second run follows the first, and the second traf
// starts where the first traf's data ends. Defaults come from tfhd and trex.
func TestImplicitFragmentOffsets(t *testing.T) {
	init := mp4.CreateEmptyInit()
	for _, lang := range []string{"swe", "eng"} {
		trak := init.AddEmptyTrack(48000, "audio", lang)
		if err := trak.SetAACDescriptor(aac.AAClc, 48000); err != nil {
			t.Fatal(err)
		}
	}
	init.Moov.Mvex.Trexs[1].DefaultSampleDuration = 960

	moof := &mp4.MoofBox{}
	moof.AddChild(mp4.CreateMfhd(1))
	traf1 := &mp4.TrafBox{}
	traf2 := &mp4.TrafBox{}
	for _, c := range []mp4.Box{
		&mp4.TfhdBox{TrackID: 1, Flags: mp4.TfhdDefaultSampleSizePresentFlag, DefaultSampleSize: 10},
		mp4.CreateTfdt(5000),
		&mp4.TrunBox{Flags: mp4.TrunDataOffsetPresentFlag | mp4.TrunSampleDurationPresentFlag,
			Samples: []mp4.Sample{{Dur: 1024}, {Dur: 1024}}},
		&mp4.TrunBox{Flags: mp4.TrunSampleDurationPresentFlag | mp4.TrunSampleSizePresentFlag,
			Samples: []mp4.Sample{{Dur: 512, Size: 7}, {Dur: 512, Size: 8}, {Dur: 512, Size: 9}}},
	} {
		if err := traf1.AddChild(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []mp4.Box{
		&mp4.TfhdBox{TrackID: 2},
		&mp4.TrunBox{Flags: mp4.TrunSampleSizePresentFlag, Samples: []mp4.Sample{{Size: 5}, {Size: 6}}},
	} {
		if err := traf2.AddChild(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := moof.AddChild(traf1); err != nil {
		t.Fatal(err)
	}
	if err := moof.AddChild(traf2); err != nil {
		t.Fatal(err)
	}
	traf1.Truns[0].DataOffset = int32(moof.Size()) + 8

	payload := make([]byte, 10+10+7+8+9+5+6)
	for i := range payload {
		payload[i] = byte(i + 1)
	}
	var file bytes.Buffer
	if err := init.Encode(&file); err != nil {
		t.Fatal(err)
	}
	moofStart := int64(file.Len())
	if err := moof.Encode(&file); err != nil {
		t.Fatal(err)
	}
	mdat := &mp4.MdatBox{Data: payload}
	if err := mdat.Encode(&file); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "implicit.mp4")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := f.Tracks()
	if len(tr) != 2 {
		t.Fatalf("%d tracks", len(tr))
	}
	if tr[0].Language != "swe" || tr[1].Language != "eng" {
		t.Errorf("languages %q %q", tr[0].Language, tr[1].Language)
	}
	dataStart := moofStart + int64(moof.Size()) + 8
	type want struct {
		off  int64
		size uint32
		dts  int64
		dur  uint32
	}
	wants := [][]want{
		{{0, 10, 5000, 1024}, {10, 10, 6024, 1024}, {20, 7, 7048, 512}, {27, 8, 7560, 512}, {35, 9, 8072, 512}},
		{{44, 5, 0, 960}, {49, 6, 960, 960}},
	}
	for i, ws := range wants {
		got := tr[i].Samples
		if len(got) != len(ws) {
			t.Fatalf("track %d: %d samples, want %d", i+1, len(got), len(ws))
		}
		for j, w := range ws {
			s := got[j]
			if s.Offset != dataStart+w.off || s.Size != w.size || s.DTS != w.dts || s.Duration != w.dur || !s.Sync {
				t.Errorf("track %d sample %d: %+v, want offset %d size %d dts %d dur %d", i+1, j, s, dataStart+w.off, w.size, w.dts, w.dur)
			}
		}
	}
	all, err := f.ReadSamples(nil, append(append([]Sample(nil), tr[0].Samples...), tr[1].Samples...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, payload) {
		t.Errorf("ReadSamples = %v, want %v", all, payload)
	}
}
