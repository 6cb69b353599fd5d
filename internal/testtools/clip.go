package testtools

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ClipOptions describes a synthetic clip made by MakeClip from ffmpeg's
// lavfi testsrc2 (video) and sine (audio) sources. Zero values take the
// defaults noted on each field.
type ClipOptions struct {
	Codec      string  // "h264" (default), "hevc", "av1", "vp9", or "mpeg4" (MPEG-4 Part 2, for unsupported-codec tests)
	Width      int     // default 1280
	Height     int     // default 720
	FPS        int     // default 30
	Seconds    float64 // default 6
	GOPSeconds float64 // closed GOP length; default 2
	BFrames    int     // maximum consecutive B-frames; 0 means none
	Audio      string  // "aac", "ac3", "eac3", "opus", or "" for no audio track
	Fragmented bool    // fragmented MP4 (one fragment per GOP) instead of progressive with faststart
	Bitrate    string  // video bitrate for ffmpeg, e.g. "800k"; "" uses constant quality (smaller files)
	OpenGOP    bool    // h264 only: open GOPs (I frames after the first are recovery points with leading B-frames)
	AudioDelay float64 // seconds the audio starts after the video: an empty edit on the audio track
	// TrimStart cuts this many seconds off the start with a stream copy
	// (ffmpeg -ss T -c copy): the edit list then starts presentation inside
	// the first GOP.
	TrimStart float64
	// Subtitles adds a mov_text (tx3g) subtitle track made from two SRT cues.
	Subtitles bool
}

// subtitleSRT is the SRT input of ClipOptions.Subtitles, passed to ffmpeg
// as a data: URI so that the arguments stay the whole recipe.
const subtitleSRT = "1\n00:00:00,000 --> 00:00:01,000\nfirst cue\n\n2\n00:00:01,000 --> 00:00:02,000\nsecond cue\n"

func (o ClipOptions) withDefaults() ClipOptions {
	if o.Codec == "" {
		o.Codec = "h264"
	}
	if o.Width == 0 {
		o.Width = 1280
	}
	if o.Height == 0 {
		o.Height = 720
	}
	if o.FPS == 0 {
		o.FPS = 30
	}
	if o.Seconds == 0 {
		o.Seconds = 6
	}
	if o.GOPSeconds == 0 {
		o.GOPSeconds = 2
	}
	return o
}

// ffmpegArgs returns the ffmpeg arguments (without the output path) that
// make the clip, or an error for options it cannot honour.
func (o ClipOptions) ffmpegArgs() ([]string, error) {
	gop := int(o.GOPSeconds*float64(o.FPS) + 0.5)
	if gop < 1 || o.Width <= 0 || o.Height <= 0 || o.FPS <= 0 || o.Seconds <= 0 || o.BFrames < 0 {
		return nil, fmt.Errorf("invalid clip options %+v", o)
	}
	secs := strconv.FormatFloat(o.Seconds, 'f', -1, 64)
	args := []string{
		"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS),
	}
	if o.Audio != "" {
		if o.AudioDelay > 0 {
			args = append(args, "-itsoffset", strconv.FormatFloat(o.AudioDelay, 'f', -1, 64))
		}
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	if o.Subtitles {
		args = append(args, "-f", "srt", "-i", "data:text/plain;base64,"+base64.StdEncoding.EncodeToString([]byte(subtitleSRT)))
	}
	args = append(args, "-t", secs, "-map", "0:v:0")
	if o.Audio != "" {
		args = append(args, "-map", "1:a:0")
	}
	if o.Subtitles {
		subs := 1
		if o.Audio != "" {
			subs = 2
		}
		args = append(args, "-map", strconv.Itoa(subs)+":s:0", "-c:s", "mov_text")
	}
	g := strconv.Itoa(gop)
	bf := strconv.Itoa(o.BFrames)
	switch o.Codec {
	case "h264":
		args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
			"-g", g, "-keyint_min", g, "-sc_threshold", "0", "-bf", bf)
		if o.OpenGOP {
			args = append(args, "-x264-params", "open-gop=1")
		}
	case "hevc":
		// x265 defaults to open GOPs; CMAF segments need closed ones.
		args = append(args, "-c:v", "libx265", "-preset", "superfast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
			"-x265-params", fmt.Sprintf("keyint=%s:min-keyint=%s:scenecut=0:open-gop=0:bframes=%s:log-level=error", g, g, bf))
	case "av1":
		// SVT-AV1's fastest preset: closed GOPs with hidden (alt-ref)
		// frames shown later by show_existing_frame.
		args = append(args, "-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p", "-g", g)
	case "vp9":
		// Realtime mode; with a Bitrate libvpx writes some superframes (a
		// hidden frame and a shown one in one sample).
		args = append(args, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
			"-pix_fmt", "yuv420p", "-g", g, "-keyint_min", g)
	case "mpeg4":
		args = append(args, "-c:v", "mpeg4", "-g", g, "-bf", bf)
	default:
		return nil, fmt.Errorf("unknown clip codec %q", o.Codec)
	}
	switch {
	case o.Bitrate != "":
		args = append(args, "-b:v", o.Bitrate, "-maxrate", o.Bitrate, "-bufsize", o.Bitrate)
	case o.Codec == "mpeg4":
		args = append(args, "-q:v", "8")
	case o.Codec == "vp9":
		args = append(args, "-crf", "35", "-b:v", "0")
	case o.Codec == "av1":
		args = append(args, "-crf", "40")
	default:
		args = append(args, "-crf", "30")
	}
	switch o.Audio {
	case "":
	case "aac":
		args = append(args, "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000")
	case "ac3", "eac3":
		args = append(args, "-c:a", o.Audio, "-b:a", "192k", "-ac", "2", "-ar", "48000")
	case "opus":
		args = append(args, "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-ar", "48000")
	default:
		return nil, fmt.Errorf("unknown clip audio codec %q", o.Audio)
	}
	if o.Fragmented {
		args = append(args, "-movflags", "+frag_keyframe+empty_moov+default_base_moof")
	} else {
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, "-f", "mp4")
	return args, nil
}

// clipCache maps an argument-list hash to a generated clip; the per-key
// mutex lets different clips generate concurrently while identical requests
// wait for the first.
var clipCache = struct {
	sync.Mutex
	dir   string
	locks map[string]*sync.Mutex
	files map[string]string
}{locks: map[string]*sync.Mutex{}, files: map[string]string{}}

// MakeClip generates a clip with ffmpeg and returns the path of a private
// copy in t.TempDir(), so the caller may modify or truncate it. Identical
// options are generated once per test process.
func MakeClip(t testing.TB, o ClipOptions) string {
	t.Helper()
	o = o.withDefaults()
	args, err := o.ffmpegArgs()
	if err != nil {
		t.Fatalf("testtools: MakeClip: %v", err)
	}
	ffmpeg := FFmpeg(t)
	var trim []string
	if o.TrimStart > 0 {
		trim = []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-ss", strconv.FormatFloat(o.TrimStart, 'f', -1, 64)}
	}
	sum := sha256.Sum256([]byte(strings.Join(append(args, trim...), "\x00")))
	key := hex.EncodeToString(sum[:8])

	clipCache.Lock()
	if clipCache.dir == "" {
		d, err := os.MkdirTemp("", "drmpipe-testclips-")
		if err != nil {
			clipCache.Unlock()
			t.Fatalf("testtools: MakeClip: %v", err)
		}
		clipCache.dir = d
	}
	lk := clipCache.locks[key]
	if lk == nil {
		lk = &sync.Mutex{}
		clipCache.locks[key] = lk
	}
	dir := clipCache.dir
	clipCache.Unlock()

	src := func() string {
		lk.Lock()
		defer lk.Unlock() // also on t.Fatalf inside run
		clipCache.Lock()
		src := clipCache.files[key]
		clipCache.Unlock()
		if src == "" {
			src = filepath.Join(dir, key+".mp4")
			if trim == nil {
				run(t, ffmpeg, append(args, src)...)
			} else {
				whole := filepath.Join(dir, key+".untrimmed.mp4")
				run(t, ffmpeg, append(args, whole)...)
				run(t, ffmpeg, append(trim, "-i", whole, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", src)...)
			}
			clipCache.Lock()
			clipCache.files[key] = src
			clipCache.Unlock()
		}
		return src
	}()

	name := fmt.Sprintf("%s_%dx%d_%s.mp4", o.Codec, o.Width, o.Height, key)
	dst := filepath.Join(t.TempDir(), name)
	if err := copyFile(src, dst); err != nil {
		t.Fatalf("testtools: MakeClip: %v", err)
	}
	return dst
}

// CleanupClips removes the clips cached by MakeClip. Call it from TestMain
// after m.Run; without it the cache stays in the system temp directory.
func CleanupClips() {
	clipCache.Lock()
	defer clipCache.Unlock()
	if clipCache.dir != "" {
		_ = os.RemoveAll(clipCache.dir)
		clipCache.dir = ""
		clipCache.files = map[string]string{}
	}
}

// RunCleaningClips runs the tests of m, removes the clips they cached
// (CleanupClips) and returns m.Run's exit code, for TestMain.
func RunCleaningClips(m *testing.M) int {
	code := m.Run()
	CleanupClips()
	return code
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
