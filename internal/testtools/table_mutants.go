package testtools

import (
	"math"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// TableMutant makes one sample table of an input's video track disagree
// with the others or with the media data (ISO/IEC 14496-12 §8.6.1 stts,
// ctts, §8.6.2 stss, §8.7.3 stsz, §8.7.4 stsc, §8.7.5 stco, §8.8.8 trun).
// A reader must refuse every one of them with an error naming Want.
type TableMutant struct {
	Name string
	// Fragmented mutants edit the first moof of a fragmented input (one
	// made with ClipOptions.Fragmented); the others the moov of a
	// progressive one.
	Fragmented bool
	// PastEOF: the edit points sample data past the end of the file, a
	// truncation rather than a malformed table.
	PastEOF bool
	// Want are substrings of the expected error: the track and the table.
	Want []string
	Edit func(t testing.TB, data []byte) []byte
}

// TableMutants edit the video track, which must be track 1 with B-frames
// (so it has ctts) and at least two sync samples. Every mutant keeps the
// boxes decodable; only the numbers in the tables are wrong.
var TableMutants = []TableMutant{
	{Name: "stsz_count_plus1", Want: []string{"track 1: stsz has", "stts has"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stsz.SampleSize = append(s.Stsz.SampleSize, s.Stsz.SampleSize[len(s.Stsz.SampleSize)-1])
		s.Stsz.SampleNumber++
	})},
	{Name: "stsz_count_minus1", Want: []string{"track 1: stsz has", "stts has"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stsz.SampleSize = s.Stsz.SampleSize[:len(s.Stsz.SampleSize)-1]
		s.Stsz.SampleNumber--
	})},
	{Name: "stts_count_plus1", Want: []string{"track 1: stsz has", "stts has"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stts.SampleCount[len(s.Stts.SampleCount)-1]++
	})},
	{Name: "stts_count_minus1", Want: []string{"track 1: stsz has", "stts has"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stts.SampleCount[len(s.Stts.SampleCount)-1]--
	})},
	{Name: "ctts_count_plus1", Want: []string{"track 1: stsz has", "ctts has"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		if s.Ctts == nil {
			t.Fatal("testtools: video track has no ctts (make the clip with B-frames)")
		}
		s.Ctts.EndSampleNr[len(s.Ctts.EndSampleNr)-1]++
	})},
	{Name: "stsc_first_chunk_0", Want: []string{"track 1: stsc entry 1", "first_chunk 0"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stsc.Entries[0].FirstChunk = 0
	})},
	{Name: "stsc_beyond_chunks", Want: []string{"track 1: stsc entry", "chunks"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		e := s.Stsc.Entries
		e[len(e)-1].FirstChunk = uint32(len(s.Stco.ChunkOffset)) + 1
	})},
	{Name: "stsc_samples_per_chunk", Want: []string{"track 1: stsz has", "stsc"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stsc.Entries[len(s.Stsc.Entries)-1].SamplesPerChunk++
	})},
	{Name: "stco_past_eof", PastEOF: true, Want: []string{"track 1: stco chunk", "file has"}, Edit: func(t testing.TB, data []byte) []byte {
		return videoStbl(func(t testing.TB, s *mp4.StblBox) {
			s.Stco.ChunkOffset[len(s.Stco.ChunkOffset)-1] = uint32(len(data)) + 1000
		})(t, data)
	}},
	{Name: "stco_before_mdat", Want: []string{"track 1: stco chunk 1: sample 1 (offset 0,", "outside mdat"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stco.ChunkOffset[0] = 0
	})},
	{Name: "stss_out_of_range", Want: []string{"track 1: stss entry", "outside 1.."}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stss.SampleNumber[len(s.Stss.SampleNumber)-1] = s.Stsz.SampleNumber + 1
	})},
	{Name: "stss_not_increasing", Want: []string{"track 1: stss entry 2", "does not follow"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		n := s.Stss.SampleNumber
		if len(n) < 2 {
			t.Fatal("testtools: video track has fewer than two sync samples")
		}
		n[0], n[1] = n[1], n[0]
	})},
	{Name: "video_sample_size_0", Want: []string{"track 1: stsz: sample 2 has size 0"}, Edit: videoStbl(func(t testing.TB, s *mp4.StblBox) {
		s.Stsz.SampleSize[1] = 0
	})},
	{Name: "trun_offset_before_mdat", Fragmented: true, Want: []string{"track 1: trun in moof at offset", "sample 1 (offset", "outside mdat"}, Edit: videoTrun(func(tr *mp4.TrunBox) {
		tr.DataOffset = 8 // the moof's own mfhd
	})},
	{Name: "trun_offset_past_eof", Fragmented: true, PastEOF: true, Want: []string{"track 1: trun in moof at offset", "file has"}, Edit: videoTrun(func(tr *mp4.TrunBox) {
		tr.DataOffset = math.MaxInt32
	})},
	{Name: "trun_sample_size_0", Fragmented: true, Want: []string{"track 1: trun in moof at offset", "sample 2 has size 0"}, Edit: videoTrun(func(tr *mp4.TrunBox) {
		tr.Samples[1].Size = 0
	})},
}

// videoStbl returns an edit of the sample table of the first video track.
func videoStbl(edit func(testing.TB, *mp4.StblBox)) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		t.Helper()
		return EditMoov(t, data, func(moov *mp4.MoovBox) {
			for _, trak := range moov.Traks {
				if trak.Mdia.Hdlr.HandlerType == "vide" {
					edit(t, trak.Mdia.Minf.Stbl)
					return
				}
			}
			t.Fatal("testtools: no video track")
		})
	}
}

// videoTrun returns an edit of the first trun of track 1 in the first moof.
func videoTrun(edit func(*mp4.TrunBox)) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		t.Helper()
		return EditMoof(t, data, 0, func(moof *mp4.MoofBox) {
			for _, traf := range moof.Trafs {
				if traf.Tfhd.TrackID == 1 && len(traf.Truns) > 0 {
					edit(traf.Truns[0])
					return
				}
			}
			t.Fatal("testtools: first moof has no trun for track 1")
		})
	}
}
