package media

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// lavfiInputs are the synthetic sources every generated input starts from
// (ffmpeg's testsrc2 picture and a 440 Hz sine tone).
var lavfiInputs = []string{
	"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
	"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
	"-t", "3",
}

// h264Args: High profile level 3.1, closed 1 s GOP, 2 B-frames, stereo AAC.
var h264Args = []string{
	"-c:v", "libx264", "-profile:v", "high", "-level:v", "3.1", "-pix_fmt", "yuv420p",
	"-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-bf", "2",
}

// hevcArgs: x265 Main profile, level 3.1 (general_level_idc 93), hvc1 tag.
var hevcArgs = []string{
	"-c:v", "libx265", "-x265-params", "log-level=error:level-idc=31:keyint=30:min-keyint=30:bframes=2",
	"-pix_fmt", "yuv420p", "-tag:v", "hvc1",
}

// av1Args: SVT-AV1 Main profile; vp9Args: libvpx-vp9 with alt-ref frames
// (superframes). Both closed 1 s GOPs.
var (
	av1Args = []string{"-c:v", "libsvtav1", "-preset", "12", "-crf", "40", "-g", "30", "-pix_fmt", "yuv420p"}
	vp9Args = []string{"-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "8", "-auto-alt-ref", "1", "-lag-in-frames", "16",
		"-g", "30", "-keyint_min", "30", "-crf", "35", "-b:v", "0", "-pix_fmt", "yuv420p"}
	opusArgs = []string{"-c:a", "libopus", "-b:a", "64k", "-ac", "2"}
)

type wantTrack struct {
	kind        Kind
	codec       Codec
	fourCC      string
	codecString string
	width       int
	height      int
	sampleRate  int
	channels    int
	paramSets   int
	edit        bool // an elst with media_time > 0 is expected
}

var (
	wantH264 = wantTrack{kind: Video, codec: H264, fourCC: "avc1", codecString: "avc1.64001f", width: 320, height: 240, paramSets: 2}
	wantHEVC = wantTrack{kind: Video, codec: HEVC, fourCC: "hvc1", codecString: "hvc1.1.6.L93.90", width: 320, height: 240, paramSets: 3}
	wantAAC  = wantTrack{kind: Audio, codec: AAC, fourCC: "mp4a", codecString: "mp4a.40.2", sampleRate: 48000, channels: 2}
	wantAC3  = wantTrack{kind: Audio, codec: AC3, fourCC: "ac-3", codecString: "ac-3", sampleRate: 48000, channels: 2}
	wantEAC3 = wantTrack{kind: Audio, codec: EAC3, fourCC: "ec-3", codecString: "ec-3", sampleRate: 48000, channels: 2}
	// AV1 Main, seq_level_idx 0 (level 2.0), 8 bit; colour not signalled
	// (unspecified, 2) so the codecs parameter carries the colour fields.
	wantAV1 = wantTrack{kind: Video, codec: AV1, fourCC: "av01", codecString: "av01.0.00M.08.0.110.02.02.02.0", width: 320, height: 240}
	// VP9 profile 0, level 2.0, 8 bit, 4:2:0 colocated (1), colour unspecified (2), studio range.
	wantVP9  = wantTrack{kind: Video, codec: VP9, fourCC: "vp09", codecString: "vp09.00.20.08.01.02.02.02.00", width: 320, height: 240}
	wantOpus = wantTrack{kind: Audio, codec: Opus, fourCC: "Opus", codecString: "opus", sampleRate: 48000, channels: 2}
)

func withEdit(w wantTrack) wantTrack { w.edit = true; return w }

// inputCase is one generated input. The table feeds the ffprobe comparison,
// the fuzz seed generator and the benchmarks.
type inputCase struct {
	name   string
	remux  string   // if set, remux this earlier case with -c copy
	args   []string // ffmpeg output arguments
	want   []wantTrack
	frag   bool
	negCTO bool // expect negative composition offsets
}

var inputCases = []inputCase{
	{
		name: "h264_aac_progressive",
		args: concat(h264Args, []string{"-c:a", "aac", "-b:a", "96k", "-ac", "2"}),
		want: []wantTrack{withEdit(wantH264), withEdit(wantAAC)},
	},
	{
		name:  "h264_aac_frag_default_base_moof",
		remux: "h264_aac_progressive",
		args:  []string{"-movflags", "+frag_keyframe+empty_moov+default_base_moof"},
		want:  []wantTrack{wantH264, wantAAC},
		frag:  true,
	},
	{
		name:  "h264_aac_frag_base_data_offset",
		remux: "h264_aac_progressive",
		args:  []string{"-movflags", "frag_keyframe+empty_moov"},
		want:  []wantTrack{wantH264, wantAAC},
		frag:  true,
	},
	{
		name:  "h264_aac_progressive_ctts_v1",
		remux: "h264_aac_progressive",
		args:  []string{"-movflags", "+negative_cts_offsets"},
		// Negative offsets replace the B-frame edit: video media_time is 0.
		want:   []wantTrack{wantH264, withEdit(wantAAC)},
		negCTO: true,
	},
	{
		name:   "h264_aac_negative_cts",
		remux:  "h264_aac_progressive",
		args:   []string{"-movflags", "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets"},
		want:   []wantTrack{wantH264, wantAAC},
		frag:   true,
		negCTO: true,
	},
	{
		name: "hevc_ac3_progressive",
		args: concat(hevcArgs, []string{"-c:a", "ac3", "-b:a", "128k", "-ac", "2"}),
		want: []wantTrack{withEdit(wantHEVC), withEdit(wantAC3)},
	},
	{
		name:  "hevc_ac3_frag",
		remux: "hevc_ac3_progressive",
		args:  []string{"-movflags", "+frag_keyframe+empty_moov+default_base_moof+delay_moov"},
		want:  []wantTrack{wantHEVC, wantAC3},
		frag:  true,
	},
	{
		name: "h264_eac3_progressive",
		args: concat(h264Args, []string{"-c:a", "eac3", "-b:a", "128k", "-ac", "2"}),
		want: []wantTrack{withEdit(wantH264), withEdit(wantEAC3)},
	},
	{
		name: "av1_opus_progressive",
		args: concat(av1Args, opusArgs),
		want: []wantTrack{wantAV1, withEdit(wantOpus)},
	},
	{
		name: "vp9_opus_progressive",
		args: concat(vp9Args, opusArgs),
		want: []wantTrack{wantVP9, withEdit(wantOpus)},
	},
}

func concat(a ...[]string) []string {
	var out []string
	for _, s := range a {
		out = append(out, s...)
	}
	return out
}

// ffmpeg runs ffmpeg with args and fails the test on error.
func ffmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	bin := testtools.FFmpeg(tb)
	cmd := exec.Command(bin, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// generate writes every case of cases into dir and returns name -> path.
func generate(tb testing.TB, dir string, cases []inputCase) map[string]string {
	tb.Helper()
	paths := make(map[string]string, len(cases))
	for _, c := range cases {
		out := filepath.Join(dir, c.name+".mp4")
		var args []string
		if c.remux != "" {
			src, ok := paths[c.remux]
			if !ok {
				tb.Fatalf("case %s remuxes unknown case %s", c.name, c.remux)
			}
			args = concat([]string{"-i", src, "-c", "copy"}, c.args)
		} else {
			args = concat(lavfiInputs, c.args)
		}
		ffmpeg(tb, append(args, out)...)
		paths[c.name] = out
	}
	return paths
}

type probePacket struct {
	StreamIndex int    `json:"stream_index"`
	PTS         *int64 `json:"pts"`
	DTS         *int64 `json:"dts"`
	Size        string `json:"size"`
	Pos         string `json:"pos"`
	Flags       string `json:"flags"`
	DataHash    string `json:"data_hash"`
}

type probeStream struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
}

// ffprobePackets returns the packets of path per track_ID, as seen by ffprobe.
func ffprobePackets(t *testing.T, path string) map[uint32][]probePacket {
	t.Helper()
	bin := testtools.FFprobe(t)
	out, err := exec.Command(bin, "-v", "error", "-show_data_hash", "MD5", "-of", "json",
		"-show_entries", "packet=stream_index,pts,dts,size,pos,flags,data_hash:stream=index,id", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Packets []probePacket `json:"packets"`
		Streams []probeStream `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	ids := map[int]uint32{}
	for _, s := range res.Streams {
		id, err := strconv.ParseUint(strings.TrimPrefix(s.ID, "0x"), 16, 32)
		if err != nil {
			t.Fatalf("ffprobe stream id %q: %v", s.ID, err)
		}
		ids[s.Index] = uint32(id)
	}
	pk := map[uint32][]probePacket{}
	for _, p := range res.Packets {
		pk[ids[p.StreamIndex]] = append(pk[ids[p.StreamIndex]], p)
	}
	return pk
}

// TestOpenMatchesFFprobe opens every generated input and compares each
// track's samples (count, order, offset, size, sync flag, relative decode
// time, composition offset, and the MD5 of the bytes ReadSamples returns)
// with ffprobe -show_packets.
func TestOpenMatchesFFprobe(t *testing.T) {
	paths := generate(t, t.TempDir(), inputCases)
	for _, c := range inputCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(paths[c.name])
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			if f.Path() != paths[c.name] {
				t.Errorf("Path() = %q", f.Path())
			}
			tracks := f.Tracks()
			if len(tracks) != len(c.want) {
				t.Fatalf("got %d tracks, want %d", len(tracks), len(c.want))
			}
			probe := ffprobePackets(t, paths[c.name])
			sawNeg := false
			for i, tr := range tracks {
				checkTrackFields(t, tr, c.want[i])
				if !c.frag && tr.Samples[0].DTS != 0 {
					t.Errorf("track %d: progressive first DTS %d, want 0", tr.ID, tr.Samples[0].DTS)
				}
				sawNeg = checkAgainstProbe(t, f, tr, probe[tr.ID], c.negCTO) || sawNeg
			}
			if c.negCTO && !sawNeg {
				t.Errorf("expected negative composition offsets, found none")
			}
			checkConcurrentReads(t, f)
		})
	}
}

func checkTrackFields(t *testing.T, tr *Track, w wantTrack) {
	t.Helper()
	if tr.Kind != w.kind || tr.Codec != w.codec || tr.FourCC != w.fourCC || tr.CodecString != w.codecString {
		t.Errorf("track %d: got %s/%s/%s/%s, want %s/%s/%s/%s", tr.ID, tr.Kind, tr.Codec, tr.FourCC, tr.CodecString,
			w.kind, w.codec, w.fourCC, w.codecString)
	}
	if tr.SampleEntry == nil || tr.SampleEntry.Type() != w.fourCC {
		t.Errorf("track %d: SampleEntry %v", tr.ID, tr.SampleEntry)
	}
	if tr.Width != w.width || tr.Height != w.height {
		t.Errorf("track %d: size %dx%d, want %dx%d", tr.ID, tr.Width, tr.Height, w.width, w.height)
	}
	if tr.SampleRate != w.sampleRate || tr.Channels != w.channels {
		t.Errorf("track %d: %d Hz %d ch, want %d Hz %d ch", tr.ID, tr.SampleRate, tr.Channels, w.sampleRate, w.channels)
	}
	if tr.Language != "und" {
		t.Errorf("track %d: language %q, want und", tr.ID, tr.Language)
	}
	if tr.MovieTimescale == 0 || tr.Timescale == 0 {
		t.Errorf("track %d: timescales movie %d media %d", tr.ID, tr.MovieTimescale, tr.Timescale)
	}
	if w.edit && (tr.EditMediaTime <= 0 || tr.EditDuration == 0) {
		t.Errorf("track %d: edit media_time %d duration %d, want a B-frame/priming edit", tr.ID, tr.EditMediaTime, tr.EditDuration)
	}
	if len(tr.ParamSets) != w.paramSets {
		t.Errorf("track %d: %d parameter sets, want %d", tr.ID, len(tr.ParamSets), w.paramSets)
	}
	if w.codec == AV1 && len(tr.ConfigOBUs) == 0 {
		t.Errorf("track %d: av1C without configOBUs", tr.ID)
	}
	if w.codec == H264 || w.codec == HEVC {
		if tr.NALLengthSize != 4 {
			t.Errorf("track %d: NAL length size %d", tr.ID, tr.NALLengthSize)
		}
		// The first parameter set is the SPS (H.264 nal_unit_type 7) or VPS (HEVC 32).
		if len(tr.ParamSets) > 0 && len(tr.ParamSets[0]) > 0 {
			typ := tr.ParamSets[0][0] & 0x1f
			if w.codec == HEVC {
				typ = tr.ParamSets[0][0] >> 1 & 0x3f
			}
			if (w.codec == H264 && typ != 7) || (w.codec == HEVC && typ != 32) {
				t.Errorf("track %d: first parameter set has NAL type %d", tr.ID, typ)
			}
		}
	} else if tr.NALLengthSize != 0 || len(tr.ParamSets) != 0 {
		t.Errorf("audio track %d has NAL fields", tr.ID)
	}
	if d := tr.Duration(); d < 2.9 || d > 3.2 {
		t.Errorf("track %d: duration %.3f s, want about 3", tr.ID, d)
	}
}

// checkAgainstProbe compares tr with ffprobe's packets of the same track and
// reports whether any composition offset was negative.
func checkAgainstProbe(t *testing.T, f *File, tr *Track, pk []probePacket, negCTO bool) (sawNeg bool) {
	t.Helper()
	if len(pk) != len(tr.Samples) {
		t.Fatalf("track %d: %d samples, ffprobe has %d packets", tr.ID, len(tr.Samples), len(pk))
	}
	data, err := f.ReadSamples(nil, tr.Samples)
	if err != nil {
		t.Fatalf("ReadSamples: %v", err)
	}
	var pos int
	s0 := tr.Samples[0]
	for i, s := range tr.Samples {
		p := pk[i]
		size, _ := strconv.ParseInt(p.Size, 10, 64)
		off, _ := strconv.ParseInt(p.Pos, 10, 64)
		if int64(s.Size) != size || s.Offset != off {
			t.Fatalf("track %d sample %d: offset %d size %d, ffprobe pos %d size %d", tr.ID, i, s.Offset, s.Size, off, size)
		}
		if sync := strings.Contains(p.Flags, "K"); sync != s.Sync {
			t.Errorf("track %d sample %d: sync %v, ffprobe flags %q", tr.ID, i, s.Sync, p.Flags)
		}
		if p.DTS == nil || p.PTS == nil || pk[0].DTS == nil {
			t.Fatalf("track %d packet %d without timestamps", tr.ID, i)
		}
		if got, want := s.DTS-s0.DTS, *p.DTS-*pk[0].DTS; got != want {
			t.Errorf("track %d sample %d: relative DTS %d, ffprobe %d", tr.ID, i, got, want)
		}
		if got, want := s.DTS+int64(s.CTO)-s0.DTS-int64(s0.CTO), *p.PTS-*pk[0].PTS; got != want {
			t.Errorf("track %d sample %d: relative PTS %d, ffprobe %d", tr.ID, i, got, want)
		}
		// With negative offsets ffmpeg's demuxer shifts its DTS by the
		// smallest offset, so pts-dts is only comparable without them.
		if got, want := int64(s.CTO), *p.PTS-*p.DTS; !negCTO && got != want {
			t.Errorf("track %d sample %d: CTO %d, ffprobe pts-dts %d", tr.ID, i, got, want)
		}
		sum := md5.Sum(data[pos : pos+int(s.Size)])
		if h := "MD5:" + hex.EncodeToString(sum[:]); h != p.DataHash {
			t.Fatalf("track %d sample %d: bytes %s, ffprobe %s", tr.ID, i, h, p.DataHash)
		}
		pos += int(s.Size)
		sawNeg = sawNeg || s.CTO < 0
	}
	if !tr.Samples[0].Sync && tr.Kind == Video {
		t.Errorf("track %d: first video sample is not sync", tr.ID)
	}
	return sawNeg
}

// checkConcurrentReads reads every track from several goroutines at once
// (run with -race) and compares with a sequential read.
func checkConcurrentReads(t *testing.T, f *File) {
	t.Helper()
	want := make([][]byte, len(f.Tracks()))
	for i, tr := range f.Tracks() {
		var err error
		if want[i], err = f.ReadSamples(nil, tr.Samples); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(want))
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i, tr := range f.Tracks() {
				var err error
				buf, err = f.ReadSamples(buf, tr.Samples)
				if err != nil || !bytes.Equal(buf, want[i]) {
					errs <- fmt.Sprintf("track %d: concurrent read differs (err %v)", tr.ID, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
